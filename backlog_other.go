//go:build !linux

package drain

import "net"

// takeBacklog cannot reach the accept queue on this system: connections
// still queued when the listener closes are reset by the kernel.
func takeBacklog(net.Listener) []net.Conn { return nil }
