package load

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// TestFinishEndsScheduleEarly: a run scheduled for a minute ends soon after
// Finish, every sent request has a Result, and none is intended after it.
func TestFinishEndsScheduleEarly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
	go srv.Serve(ln)
	defer srv.Close()
	c, err := NewClient(Config{Rate: 200, Duration: time.Minute, Idle: -1, HalfSent: -1, SlowBody: -1}, staticTarget{ep: endpoint.Endpoint{Addr: ln.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	type out struct {
		rs  []Result
		err error
	}
	done := make(chan out, 1)
	go func() { rs, err := c.Run(context.Background()); done <- out{rs, err} }()
	for c.Progress().OK < 40 {
		time.Sleep(5 * time.Millisecond) // polling progress, not synchronizing an event
	}
	c.Finish()
	finishedAt := time.Now()
	var o out
	select {
	case o = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Finish")
	}
	if o.err != nil {
		t.Fatal(o.err)
	}
	if len(o.rs) < 40 || len(o.rs) > 200*5 {
		t.Fatalf("%d results", len(o.rs))
	}
	p := c.Progress()
	if p.Total != uint64(len(o.rs)) || p.OK != uint64(len(o.rs)) {
		t.Errorf("progress %+v, results %d", p, len(o.rs))
	}
	last := o.rs[len(o.rs)-1].Intended
	if el := time.Since(finishedAt); last > time.Minute/2 || el > 2*time.Second {
		t.Errorf("last intended %v, returned %v after Finish", last, el)
	}
}
