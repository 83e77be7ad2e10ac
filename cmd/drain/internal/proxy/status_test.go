package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestDeadAppStatus: when the application dies, a request it had received
// gets 502 (it may have acted on it: a client must not blindly send it
// again), and a request sent after its death, which it cannot have seen,
// gets 503 with Retry-After and Connection: close (safe to retry).
func TestDeadAppStatus(t *testing.T) {
	var dead atomic.Bool
	var s *httptest.Server
	s = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/die" {
			io.WriteString(w, "ok")
			return
		}
		// Dies holding the request: no new connection is accepted and
		// this one closes without an answer.
		dead.Store(true)
		s.Listener.Close()
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			c.Close()
		}
	}))
	t.Cleanup(s.Close)
	down := func() string {
		if dead.Load() {
			return "was killed by signal killed"
		}
		return ""
	}
	addr, _, _ := front(t, s.Listener.Addr().String(), Config{Down: down})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Post("http://"+addr+"/die", "text/plain", strings.NewReader("order #1"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway || res.Header.Get("Retry-After") != "" || !strings.Contains(string(b), "may have received") {
		t.Errorf("request the application received before dying: %d Retry-After %q %q, want 502 without Retry-After", res.StatusCode, res.Header.Get("Retry-After"), b)
	}
	res, err = client.Post("http://"+addr+"/after", "text/plain", strings.NewReader("order #2"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "1" || !res.Close || !strings.Contains(string(b), "was killed") || !strings.Contains(string(b), "not sent") {
		t.Errorf("request after the death: %d Retry-After %q close %v %q, want 503, Retry-After: 1, Connection: close", res.StatusCode, res.Header.Get("Retry-After"), res.Close, b)
	}
}
