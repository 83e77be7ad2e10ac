package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/drainhttp/drain"
)

// TestStageBatches: the quiet connections are interrupted handBatch at a
// time, the next batch only once every connection of the last has left the
// fast path or is busy serving a request.
func TestStageBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 2*handBatch + 10
		f := &Fast{conns: map[*fastConn]struct{}{}, forgot: make(chan struct{}, 1)}
		var quiet []*fastConn
		for range n {
			a, b := net.Pipe()
			defer a.Close()
			defer b.Close()
			c := &fastConn{f: f, c: a} // zero state: stateIdle
			f.conns[c] = struct{}{}
			quiet = append(quiet, c)
		}
		interrupted := func() (k int) {
			for _, c := range quiet {
				c.mu.Lock()
				if c.why == whyDrain {
					k++
				}
				c.mu.Unlock()
			}
			return k
		}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { f.stage(quiet, stop); close(done) }()
		synctest.Wait()
		if k := interrupted(); k != handBatch {
			t.Fatalf("%d of %d quiet connections interrupted at first, want one batch of %d", k, n, handBatch)
		}
		// All but one of the first batch leave; that one starts serving a
		// request (it will hand itself over when done): the batch is settled.
		for _, c := range quiet[:handBatch-1] {
			f.forget(c)
		}
		quiet[handBatch-1].state.Store(stateBusy)
		time.Sleep(stageCheck) // a busy connection sends no news: the stage looks again after stageCheck
		synctest.Wait()
		if k := interrupted(); k != 2*handBatch {
			t.Fatalf("%d interrupted after the first batch settled, want %d", k, 2*handBatch)
		}
		for _, c := range quiet[handBatch : 2*handBatch] {
			f.forget(c)
		}
		synctest.Wait()
		if k := interrupted(); k != n {
			t.Fatalf("%d interrupted after the second batch left, want all %d", k, n)
		}
		for _, c := range quiet[2*handBatch:] {
			f.forget(c)
		}
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("stage did not return once every connection had left")
		}
		close(stop)
	})
}

// TestFastDrainManyQuiet: more quiet keep-alive connections than a batch
// when the drain begins; each is asked one more request during the
// hand-over's stages, and each is answered with "Connection: close", by
// the fast path before its turn or by net/http after it. Run then ends
// (nothing left for IdleOneMore to wait for).
func TestFastDrainManyQuiet(t *testing.T) {
	up := upstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	addr, f, d, runErr := drainFront(t, up, drain.Options{Idle: drain.IdleOneMore, Delay: -1, Deadline: 20 * time.Second})
	const n = 3*handBatch + 7
	conns := make([]*bufConn, n)
	for i := range conns {
		conns[i] = dial(t, addr)
		fmt.Fprint(conns[i], "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		res := readResponse(t, conns[i], "GET")
		io.ReadAll(res.Body)
	}
	if served, _ := f.Counts(); served != n {
		t.Fatalf("fast path served %d before the drain, want %d", served, n)
	}
	d.Stop()
	<-d.Draining()
	for i, c := range conns {
		fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		res, err := http.ReadResponse(c.r, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("connection %d: request during the drain: %v", i, err)
		}
		b, err := io.ReadAll(res.Body)
		if res.StatusCode != 200 || string(b) != "ok" || err != nil || !res.Close {
			t.Fatalf("connection %d: %d %q %v, close %v; want 200 \"ok\" with Connection: close", i, res.StatusCode, b, err, res.Close)
		}
	}
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
