package router

import (
	"testing"
	"time"
)

func TestPacers(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	s := time.Second
	tests := []struct {
		name          string
		p             pacer
		pending, last time.Time
		want          time.Time
	}{
		{"rate: first sync at once", rateLimited(3 * s), at(5 * s), time.Time{}, at(5 * s)},
		{"rate: long after the last, at once", rateLimited(3 * s), at(5 * s), at(1 * s), at(5 * s)},
		{"rate: exactly interval after, at once", rateLimited(3 * s), at(4 * s), at(1 * s), at(4 * s)},
		{"rate: soon after the last, waits", rateLimited(3 * s), at(2 * s), at(1 * s), at(4 * s)},
		{"tick: before origin, at origin", ticking(at(1*s), 5*s), at(0), time.Time{}, at(1 * s)},
		{"tick: on a tick, at once", ticking(at(1*s), 5*s), at(6 * s), time.Time{}, at(6 * s)},
		{"tick: between ticks, the next", ticking(at(1*s), 5*s), at(6*s + 1), time.Time{}, at(11 * s)},
		{"tick: last sync ignored", ticking(at(0), 5*s), at(2 * s), at(1 * s), at(5 * s)},
		{"immediate", immediate, at(2 * s), at(1 * s), at(2 * s)},
	}
	for _, tt := range tests {
		if got := tt.p(tt.pending, tt.last); !got.Equal(tt.want) {
			t.Errorf("%s: pending %v last %v: got %v, want %v", tt.name, tt.pending.Sub(t0), tt.last.Sub(t0), got.Sub(t0), tt.want.Sub(t0))
		}
	}
}
