package drain

import (
	"net/http"
	"testing"
	"time"
)

// TestNoIdleTimeoutInSteadyStateByDefault: with the default Options and an
// http.Server whose IdleTimeout the caller left zero, the library must not
// close a keep-alive connection that has been idle for longer than the
// keep-alive hint (DefaultKeepAlive): a plain http.Server would answer its
// next request, and clients that ignore the hint (Go's Transport, routers
// with a longer upstream idle timeout) send it. The hint is still sent.
func TestNoIdleTimeoutInSteadyStateByDefault(t *testing.T) {
	t.Parallel()
	h := start(t, Options{}, hello)
	c := dialRaw(t, h.addr)
	c.write(get)
	if resp := c.response(); resp.Header.Get("Keep-Alive") != "timeout=5" {
		t.Errorf("Keep-Alive = %q, want the hint timeout=5", resp.Header.Get("Keep-Alive"))
	}
	time.Sleep(DefaultKeepAlive + 700*time.Millisecond) // the client's think time: the test is about elapsed idle time
	c.write(get)
	if resp, err := c.tryResponse(); err != nil {
		t.Fatalf("request after %v idle: %v (the library enforced an idle timeout the caller did not set)", DefaultKeepAlive+700*time.Millisecond, err)
	} else if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d", resp.StatusCode)
	}
	if st := h.d.Stats(); st.ClosedIdleTimeout != 0 {
		t.Errorf("ClosedIdleTimeout = %d, want 0", st.ClosedIdleTimeout)
	}
}
