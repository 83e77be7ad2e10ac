package proxy

import "time"

// When the drain begins, the fast path gives every connection to net/http,
// so that the Drainer's one idle policy decides when each closes. Handing
// over costs about 45 µs per connection (net/http's buffers and goroutine
// for a connection it sees as new, and the garbage collection they bring).
// Done for all at once, 19,000 quiet keep-alive connections woke 19,000
// goroutines together, and the requests of the clients still sending
// waited behind them in the scheduler's run queue and in the hand-over's
// queue: p99 283-373 ms and a maximum of 0.92-0.94 s at 1,000 requests/s in
// the first seconds of the drain, against 2-50 ms and 6-78 ms with no quiet
// connections (drain exec, GOMAXPROCS 1).
//
// So the connections busy at that moment (or holding part of a head) are
// interrupted at once, and the quiet ones handed over handBatch at a time,
// the next batch when every connection of the last has left the fast path
// or become busy. A quiet connection whose client sends before its turn is
// served by the fast path meanwhile, with "Connection: close" like every
// response of a draining fast path, so none waits for the stage to reach it.
const handBatch = 64

// stageCheck bounds how long the stage waits without news of a connection
// leaving before it looks at its batch again (one that went busy sends
// none until its request ends).
const stageCheck = 50 * time.Millisecond

// stage hands quiet to net/http a batch at a time; it returns when all have
// been or stop is closed.
func (f *Fast) stage(quiet []*fastConn, stop <-chan struct{}) {
	t := time.NewTimer(stageCheck)
	defer t.Stop()
	for len(quiet) > 0 {
		batch := quiet[:min(handBatch, len(quiet))]
		quiet = quiet[len(batch):]
		f.mu.Lock()
		for _, c := range batch {
			if _, ok := f.conns[c]; ok {
				c.interrupt(whyDrain)
			}
		}
		f.mu.Unlock()
		for !f.settled(batch) {
			t.Reset(stageCheck)
			select {
			case <-f.forgot:
			case <-t.C:
			case <-stop:
				return
			}
		}
	}
}

// settled reports whether every connection of batch has left the fast path
// or is serving a request (it hands itself over when done).
func (f *Fast) settled(batch []*fastConn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range batch {
		if _, ok := f.conns[c]; ok && c.state.Load() != stateBusy {
			return false
		}
	}
	return true
}
