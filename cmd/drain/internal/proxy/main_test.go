package proxy

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine of the proxy outlives the tests: the
// body senders end with their requests and the pool's sweep with its last
// idle connection. The clients' own idle connections are closed first.
func TestMain(m *testing.M) {
	// Every test runs twice: with net/http serving each request, and with
	// the fast path in front of it (drain exec's default).
	fmt.Println("=== proxy tests: net/http only")
	code := m.Run()
	if code == 0 {
		fmt.Println("=== proxy tests: fast path in front of net/http")
		testFast = true
		code = m.Run()
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if code == 0 {
		// net/http's server lingers 500 ms after closing the write side of
		// a connection it rejected (400); that goroutine is net/http's.
		if err := goleak.Find(goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
