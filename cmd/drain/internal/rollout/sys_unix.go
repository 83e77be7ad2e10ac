//go:build unix

package rollout

import "syscall"

// canStart: replicas can be started and stopped with signals here.
func canStart() error { return nil }

// listenBacklog0 sets the listening socket fd's accept queue to length 0
// (on a listening socket, listen again only sets the backlog).
func listenBacklog0(fd uintptr) error { return syscall.Listen(int(fd), 0) }
