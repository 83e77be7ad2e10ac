//go:build !linux

package drain

import "net"

// pendingBytes cannot look into the kernel's receive queue on this system;
// the byte counter and the blocked-read flag still protect half-sent requests.
func pendingBytes(net.Conn) int { return 0 }
