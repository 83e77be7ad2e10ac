package load

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestSchedulePace(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name     string
		s        Schedule
		elapsed  time.Duration
		sent     uint64
		wantWait time.Duration
		wantStop bool
	}{
		{"first request at once", Schedule{100, time.Second}, 0, 0, 0, false},
		{"on time: wait for the next slot", Schedule{100, time.Second}, 5 * ms, 1, 5 * ms, false},
		{"early", Schedule{100, time.Second}, 0, 10, 100 * ms, false},
		// Open model: a client that is behind (a stalled server kept it
		// busy) sends at once and never shifts the later slots.
		{"late: no wait, no shift", Schedule{100, time.Second}, 500 * ms, 10, 0, false},
		{"late then on time again", Schedule{100, time.Second}, 500 * ms, 60, 100 * ms, false},
		{"last request", Schedule{100, time.Second}, 990 * ms, 99, 0, false},
		{"stop after rate*duration", Schedule{100, time.Second}, 990 * ms, 100, 0, true},
		{"stop even when early", Schedule{100, time.Second}, 0, 100, 0, true},
		{"fractional rate", Schedule{2.5, 2 * time.Second}, 0, 4, 1600 * ms, false},
		{"fractional rate stops", Schedule{2.5, 2 * time.Second}, 0, 5, 0, true},
		{"zero rate is a usage error: stop", Schedule{0, time.Second}, 0, 0, 0, true},
		{"negative rate: stop", Schedule{-5, time.Second}, 0, 0, 0, true},
		{"NaN rate: stop", Schedule{math.NaN(), time.Second}, 0, 0, 0, true},
		{"zero duration: stop", Schedule{100, 0}, 0, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wait, stop := tt.s.Pace(tt.elapsed, tt.sent)
			if wait != tt.wantWait || stop != tt.wantStop {
				t.Errorf("Pace(%v, %d) = %v, %v; want %v, %v", tt.elapsed, tt.sent, wait, stop, tt.wantWait, tt.wantStop)
			}
		})
	}
}

func TestScheduleTotal(t *testing.T) {
	tests := []struct {
		s    Schedule
		want uint64
	}{
		{Schedule{100, time.Second}, 100},
		{Schedule{1, time.Second}, 1},
		{Schedule{1, 1500 * time.Millisecond}, 2}, // at 0s and 1s
		{Schedule{3, time.Second}, 3},             // 0, 333ms, 666ms
		{Schedule{30000, 10 * time.Second}, 300000},
		{Schedule{0.5, time.Second}, 1},
		{Schedule{1e9, time.Millisecond}, 1e6},
		{Schedule{0, time.Second}, 0},
	}
	for _, tt := range tests {
		if got := tt.s.Total(); got != tt.want {
			t.Errorf("%+v.Total() = %d, want %d", tt.s, got, tt.want)
		}
		// Total is exactly the number of slots before Duration.
		if n := tt.s.Total(); n > 0 && (tt.s.At(n-1) >= tt.s.Duration || tt.s.At(n) < tt.s.Duration) {
			t.Errorf("%+v: At(%d) = %v, At(%d) = %v around Duration", tt.s, n-1, tt.s.At(n-1), n, tt.s.At(n))
		}
	}
}

func TestScheduleAtMonotonic(t *testing.T) {
	s := Schedule{Rate: 7777.7, Duration: time.Hour}
	prev := time.Duration(-1)
	for n := uint64(0); n < 100000; n++ {
		at := s.At(n)
		if at <= prev {
			t.Fatalf("At(%d) = %v not after At(%d) = %v", n, at, n-1, prev)
		}
		prev = at
	}
}

func TestScheduleValidate(t *testing.T) {
	for _, s := range []Schedule{{0, time.Second}, {-1, time.Second}, {math.Inf(1), time.Second}, {math.NaN(), time.Second}, {1, 0}, {1, -time.Second}} {
		if err := s.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v.Validate() = %v, want ErrConfig", s, err)
		}
	}
	if err := (Schedule{1, time.Second}).Validate(); err != nil {
		t.Errorf("valid schedule: %v", err)
	}
}

func TestIsPost(t *testing.T) {
	tests := []struct {
		ratio float64
		want  string // for n = 0..11
	}{
		{0, "GGGGGGGGGGGG"},
		{1, "PPPPPPPPPPPP"},
		{0.25, "GGGPGGGPGGGP"},
		{0.5, "GPGPGPGPGPGP"},
		{1.0 / 3, "GGPGGPGGPGGP"},
	}
	for _, tt := range tests {
		got := ""
		for n := range uint64(12) {
			if isPost(n, tt.ratio) {
				got += "P"
			} else {
				got += "G"
			}
		}
		if got != tt.want {
			t.Errorf("ratio %v: %s, want %s", tt.ratio, got, tt.want)
		}
	}
}
