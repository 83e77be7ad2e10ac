package drain

import (
	"os"
	"os/signal"
	"time"
)

// sameSignal is how soon after a context-triggered drain a signal counts as
// the one that cancelled the context, not a second one.
const sameSignal = 250 * time.Millisecond

// notify subscribes to Options.Signals (none when the list is empty); stop
// unsubscribes.
func (d *Drainer) notify() (sig chan os.Signal, stop func()) {
	sig = make(chan os.Signal, 2)
	if len(d.opts.Signals) == 0 {
		return sig, func() {}
	}
	signal.Notify(sig, d.opts.Signals...)
	return sig, func() { signal.Stop(sig) }
}

// forceOnSignal forces the drain on the next signal, until the drain is
// forced otherwise. When a context cancelled by signal.NotifyContext began
// the drain (viaCtx), the same signal also reaches sig a moment later: one
// within sameSignal of triggered is that one.
func (d *Drainer) forceOnSignal(sig <-chan os.Signal, viaCtx bool, triggered time.Time) {
	for {
		select {
		case <-sig:
			if viaCtx && time.Since(triggered) < sameSignal {
				continue
			}
			d.Stop()
			d.Stop()
		case <-d.force:
		}
		return
	}
}
