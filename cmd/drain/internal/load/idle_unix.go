//go:build unix

package load

import (
	"net"
	"syscall"
)

// idleProbe tells whether an idle pooled connection is still usable, the way
// Go's Transport (its per-connection read loop) and Node's agent (the socket
// 'end' event) notice a server that closed a keep-alive connection: a FIN, a
// reset, or unsolicited bytes (such as a 408 before closing) while idle.
// It peeks with a non-blocking recv: one syscall, no goroutine per
// connection, nothing written, so a failed probe is not a retry.
type idleProbe struct {
	rc    syscall.RawConn
	fn    func(fd uintptr) bool // built once so probing allocates nothing
	alive bool
	b     [1]byte
}

func (p *idleProbe) init(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p.rc = rc
	p.fn = func(fd uintptr) bool {
		// open and quiet; an error (reset), a FIN or unsolicited bytes
		// make it unusable
		p.alive = peekIdle(fd, p.b[:])
		return true
	}
}

// usable reports whether the idle connection may carry the next request.
func (p *idleProbe) usable() bool {
	if p.rc == nil {
		return true
	}
	p.alive = false
	if err := p.rc.Read(p.fn); err != nil {
		return false
	}
	return p.alive
}
