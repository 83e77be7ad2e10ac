package load

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestClassifyErrors: each error the client can see, wrapped as the
// net package wraps it, lands in its own outcome.
func TestClassifyErrors(t *testing.T) {
	dial := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
	}
	for _, tc := range []struct {
		err  error
		want Outcome
	}{
		{nil, OK},
		{dial(syscall.ECONNREFUSED), Refused},
		{dial(syscall.EHOSTUNREACH), Unreachable}, // a deleted pod's address on a real node
		{dial(syscall.ENETUNREACH), Unreachable},
		{dial(syscall.ECONNRESET), Reset},
		{io.ErrUnexpectedEOF, EOF},
		{os.ErrDeadlineExceeded, Timeout},
		{errors.New("malformed"), Other},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestMarkSlow: the latency objective turns late OK answers to requests
// written whole (steady, quiet, idle) into Slow, and nothing else.
func TestMarkSlow(t *testing.T) {
	ms := time.Millisecond
	res := func(k Kind, o Outcome, lat time.Duration) Result {
		return Result{Intended: 100 * ms, Sent: 100 * ms, Done: 100*ms + lat, Kind: k, Outcome: o}
	}
	for _, tc := range []struct {
		name string
		r    Result
		max  time.Duration
		want Outcome
	}{
		{"steady over", res(Steady, OK, 2001*ms), 2 * time.Second, Slow},
		{"steady at the objective", res(Steady, OK, 2000*ms), 2 * time.Second, OK},
		{"steady under", res(Steady, OK, 30*ms), 2 * time.Second, OK},
		{"quiet over", res(Quiet, OK, 5*time.Second), 2 * time.Second, Slow},
		{"idle over", res(Idle, OK, 5*time.Second), 2 * time.Second, Slow},
		{"half-sent is the client's delay", res(HalfSent, OK, 5*time.Second), 2 * time.Second, OK},
		{"slow body is the client's delay", res(SlowBody, OK, 5*time.Second), 2 * time.Second, OK},
		{"a loss keeps its class", res(Steady, Status502, 5*time.Second), 2 * time.Second, Status502},
		{"no objective", res(Steady, OK, time.Hour), 0, OK},
		{"the client's own lateness", Result{Intended: 100 * ms, Sent: 5100 * ms, Done: 5130 * ms, Kind: Steady, Outcome: OK}, 2 * time.Second, OK},
		{"late, then held", Result{Intended: 100 * ms, Sent: 1100 * ms, Done: 3200 * ms, Kind: Steady, Outcome: OK}, 2 * time.Second, Slow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := []Result{tc.r}
			n := MarkSlow(rs, tc.max)
			if rs[0].Outcome != tc.want || (n == 1) != (tc.want == Slow && tc.r.Outcome != Slow) {
				t.Errorf("MarkSlow(%v, %v) = %v (%d marked), want %v", tc.r, tc.max, rs[0].Outcome, n, tc.want)
			}
		})
	}
	if !Slow.Lost() || Slow.String() != "slow" {
		t.Errorf("Slow: lost %v, name %q; want a lost outcome named slow", Slow.Lost(), Slow.String())
	}
}
