package load

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
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
