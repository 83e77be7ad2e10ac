//go:build !unix

package load

import "net"

// idleProbe cannot peek without blocking on this platform: every idle
// connection counts as usable.
type idleProbe struct{}

func (p *idleProbe) init(net.Conn) {}
func (p *idleProbe) usable() bool  { return true }
