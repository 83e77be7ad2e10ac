package drain

import (
	"os"
	"os/signal"
	"sync"
)

// watchSignals subscribes to Options.Signals until the returned stop is
// called. The first signal is handed to first (it begins the drain, or joins
// the one a context or Stop began: with signal.NotifyContext the same
// signal cancels Run's context too); the second forces the drain, however
// soon it follows. stop unsubscribes and waits for the watching goroutine.
func (d *Drainer) watchSignals(first chan<- os.Signal) (stop func()) {
	if len(d.opts.Signals) == 0 {
		return func() {}
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, d.opts.Signals...)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := 0; ; n++ {
			select {
			case s := <-sig:
				if n == 0 {
					first <- s // buffered, read at most once
					continue
				}
				d.forceNow()
				return
			case <-done:
				return
			}
		}
	})
	return func() {
		signal.Stop(sig)
		close(done)
		wg.Wait()
	}
}

// forceNow forces the drain: a second Stop call or signal.
func (d *Drainer) forceNow() {
	d.forceOnce.Do(func() { close(d.force) })
}
