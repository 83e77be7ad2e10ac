package rollout

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// loopbackBlackhole makes addr, a loopback address an exited replica
// listened on, drop new connections instead of refusing them, the way a
// deleted pod's address does (its SYNs go unanswered): it listens on addr
// with an accept queue of length 0 and fills that queue with one
// connection it never accepts, so the kernel drops every further SYN
// (listen overflow) and a client's connect retransmits until its own
// timeout. Closing the returned Closer makes addr refuse again.
func loopbackBlackhole(_ int32, addr string) (io.Closer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rollout: blackhole %s: %w", addr, err)
	}
	sc, err := ln.(*net.TCPListener).SyscallConn()
	if err == nil {
		cerr := sc.Control(func(fd uintptr) {
			// On a listening socket, listen again only sets the backlog.
			err = listenBacklog0(fd)
		})
		err = errors.Join(err, cerr)
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("rollout: blackhole %s: backlog 0: %w", addr, err)
	}
	fill, err := fillAcceptQueue(addr)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("rollout: blackhole %s: fill the accept queue: %w", addr, err)
	}
	if fill == nil {
		return closers{ln}, nil
	}
	return closers{fill, ln}, nil
}

// fillAcceptQueue connects to addr, whose accept queue has length 0, so
// that the kernel drops every later SYN. A client (a router retrying) may
// have filled the queue first; then this SYN is the one dropped, and
// waiting out the kernel's retries would take about 2 min: a connect that
// times out means the queue is full already (nil, nil).
func fillAcceptQueue(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, fillTimeout)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil, nil
	}
	return c, err
}

// fillTimeout bounds the connect that fills the accept queue: on loopback
// an accepted SYN completes in microseconds, a dropped one not before the
// kernel's first retransmission (1 s).
const fillTimeout = 500 * time.Millisecond

type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
