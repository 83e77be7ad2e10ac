package drain

import (
	"fmt"
	"time"
)

// An IdlePolicy says when the drain closes a keep-alive connection that is
// idle: its last response is complete and not one byte of a next request has
// arrived (neither read by the server nor waiting in the kernel's receive
// queue). The zero value is [IdleKeepAlive].
//
// Closing an idle HTTP/1.1 connection always races a request the client may
// have just sent: if the request is on the wire when the FIN leaves, the
// client reads EOF or a reset and the request is lost. The only closes that
// cannot race are those the client is told about in-band, by a response that
// carries "Connection: close", or those the client initiates itself.
type IdlePolicy int32

const (
	// IdleKeepAlive, the default, closes an idle connection once it has been
	// idle for the keep-alive timeout N ([Options.KeepAlive]), and not
	// before the listeners close. While serving, the first response on each
	// connection advertises "Keep-Alive: timeout=N", which clients that
	// honour it (Node.js's http.Agent, for one) use to retire the
	// connection before N: for them the close races nothing. Busy
	// connections close at their next response (one more message, no
	// race). A quiet connection of a client that ignores the hint is closed
	// once, at most N after its last request: the drain ends by
	// max(Delay, last request + N), and at the latest at the deadline. The
	// package doc gives the loss probability for each kind of client.
	IdleKeepAlive IdlePolicy = iota

	// IdleOneMore waits for one more request on every idle connection and
	// answers it with "Connection: close"; connections that never send are
	// closed at [Options.Deadline] (Run then returns [ErrDeadline]). It loses
	// nothing but makes the drain as long as the deadline whenever one
	// client is quiet. A negative [Options.KeepAlive] makes IdleKeepAlive
	// behave the same way.
	IdleOneMore

	// IdleImmediate closes idle connections as soon as the listeners close,
	// the way [http.Server.Shutdown] does (but never one that has received
	// part of a request). It is fast and races requests in flight; it exists
	// to compare against.
	IdleImmediate
)

var idleNames = [...]string{"keepalive", "one-more", "immediate"}

// String returns the policy's name: "keepalive", "one-more" or "immediate".
func (p IdlePolicy) String() string {
	if p >= 0 && int(p) < len(idleNames) {
		return idleNames[p]
	}
	return "unknown"
}

// MarshalText returns the policy's name (see String); it fails for a value
// that is not one of the constants. With UnmarshalText it makes the policy
// usable with flag.TextVar and text-based configuration decoders.
func (p IdlePolicy) MarshalText() ([]byte, error) {
	if p < 0 || int(p) >= len(idleNames) {
		return nil, fmt.Errorf("drain: IdlePolicy(%d) has no name", int32(p))
	}
	return []byte(idleNames[p]), nil
}

// UnmarshalText sets p from a name as String returns it: keepalive, one-more or immediate.
func (p *IdlePolicy) UnmarshalText(text []byte) error {
	for i, n := range idleNames {
		if n == string(text) {
			*p = IdlePolicy(i)
			return nil
		}
	}
	return fmt.Errorf("drain: unknown idle policy %q: use keepalive, one-more or immediate", text)
}

// closeIdleAt reports when an idle HTTP/1 connection that has been idle since
// since should be closed, given that listeners closed at closing and the hard
// deadline is deadline.
func (p IdlePolicy) closeIdleAt(since, closing, deadline time.Time, keepAlive time.Duration) time.Time {
	switch p {
	case IdleImmediate:
		return closing
	case IdleOneMore:
		return deadline
	default:
		if keepAlive <= 0 {
			// No keep-alive timeout (Options.KeepAlive < 0): nothing told
			// the client when the connection may close, so wait for one
			// more message, as IdleOneMore does.
			return deadline
		}
		t := since.Add(keepAlive)
		if t.Before(closing) {
			return closing
		}
		if t.After(deadline) {
			return deadline
		}
		return t
	}
}
