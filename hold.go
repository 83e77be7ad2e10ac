package drain

// Hold bookkeeping: d.holds counts outstanding holds under d.mu, and
// d.cancelHolds ends their shared context. Both happen under d.mu so that a
// Hold racing with the end of the drain is either counted or handed a
// cancelled context.

// outstandingHolds returns the number of outstanding holds.
func (d *Drainer) outstandingHolds() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.holds
}

// endHoldsIfNone ends holding (cancels the holds' context with
// context.Canceled) when no hold is outstanding, and returns how many are.
func (d *Drainer) endHoldsIfNone() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.holds == 0 {
		d.cancelHolds(nil)
	}
	return d.holds
}

// abandonHolds stops the drain waiting for holds: it cancels their context
// with cause (unless it was cancelled already) and returns how many were
// still outstanding.
func (d *Drainer) abandonHolds(cause error) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cancelHolds(cause)
	return d.holds
}
