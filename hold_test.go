package drain

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"testing/synctest"
	"time"
)

// The hold tests run in a synctest bubble (see timing_test.go): "Run has not
// returned after ten seconds" is then an exact statement about virtual time
// instead of a real wait, and the deadline and ForceAfter times are exact.

// TestHoldKeepsDrainOpen: a hold taken before Run keeps the drain in
// PhaseClosing after the last connection closed, until release; release
// ends it at once, without waiting for a poll.
func TestHoldKeepsDrainOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newPipeListener()
		d := New(Options{Logger: quietLog, Signals: []os.Signal{}})
		started := make(chan struct{})
		finish := make(chan struct{})
		d.Add(&http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-finish
			io.WriteString(w, "done")
		})}, ln)
		ctx, release := d.Hold()
		errc := make(chan error, 1)
		go func() { errc <- d.Run(context.Background()) }()

		c, err := ln.dial()
		if err != nil {
			t.Fatal(err)
		}
		go c.Write([]byte(get))
		<-started
		d.Stop()
		synctest.Wait()
		if got := d.Phase(); got != PhaseClosing {
			t.Fatalf("phase %v after Stop, want closing", got)
		}

		// The in-flight request finishes and its connection closes: only
		// the hold is left.
		close(finish)
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatalf("in-flight request lost: %v", err)
		}
		c.Close()
		time.Sleep(10 * time.Second) // virtual; well before the 20 s deadline
		synctest.Wait()
		if n := d.Stats().Conns; n != 0 {
			t.Fatalf("%d connections still open", n)
		}
		select {
		case err := <-errc:
			t.Fatalf("Run returned %v while a hold was outstanding", err)
		default:
		}
		if got := d.Phase(); got != PhaseClosing {
			t.Errorf("phase %v while held, want closing", got)
		}
		if ctx.Err() != nil {
			t.Errorf("hold context cancelled before the deadline: %v", context.Cause(ctx))
		}

		releasedAt := time.Now()
		release()
		if err := <-errc; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		if el := time.Since(releasedAt); el != 0 {
			t.Errorf("Run returned %v after release, want at once", el)
		}
		if !errors.Is(context.Cause(ctx), context.Canceled) {
			t.Errorf("hold context after the drain: cause %v, want context.Canceled", context.Cause(ctx))
		}
	})
}

// TestHoldCancelledAtDeadline: an unreleased hold's context is cancelled at
// Deadline, with ErrDeadline as its cause, and the drain gives up on it at
// ForceAfter: Run returns ErrDeadline and ErrForced though release is never
// called.
func TestHoldCancelledAtDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newPipeListener()
		d := New(Options{Deadline: 2 * time.Second, ForceAfter: time.Second, Logger: quietLog, Signals: []os.Signal{}})
		d.Add(&http.Server{Handler: hello}, ln)
		ctx, _ := d.Hold()
		errc := make(chan error, 1)
		go func() { errc <- d.Run(context.Background()) }()
		synctest.Wait()
		start := time.Now()
		d.Stop()

		<-ctx.Done()
		if at := time.Since(start); at < 2*time.Second || at > 2*time.Second+pollInterval {
			t.Errorf("hold context cancelled after %v, want 2s", at)
		}
		if got := d.Phase(); got != PhaseCancelling {
			t.Errorf("phase %v when the hold context was cancelled, want cancelling", got)
		}
		if cause := context.Cause(ctx); cause != ErrDeadline {
			t.Errorf("cause %v, want ErrDeadline", cause)
		}
		err := <-errc
		if !errors.Is(err, ErrDeadline) || !errors.Is(err, ErrForced) {
			t.Errorf("Run = %v, want ErrDeadline and ErrForced", err)
		}
		if el := time.Since(start); el < 3*time.Second || el > 3*time.Second+pollInterval {
			t.Errorf("Run returned after %v, want 3s (Deadline + ForceAfter)", el)
		}
	})
}

// TestSecondStopAbandonsHold: forcing before the deadline stops waiting for
// a hold at once and cancels its context with ErrForced.
func TestSecondStopAbandonsHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newPipeListener()
		d := New(Options{Logger: quietLog, Signals: []os.Signal{}})
		d.Add(&http.Server{Handler: hello}, ln)
		ctx, release := d.Hold()
		defer release()
		errc := make(chan error, 1)
		go func() { errc <- d.Run(context.Background()) }()
		d.Stop()
		synctest.Wait()
		if got := d.Phase(); got != PhaseClosing {
			t.Fatalf("phase %v after Stop, want closing", got)
		}
		d.Stop()
		err := <-errc
		if !errors.Is(err, ErrForced) || errors.Is(err, ErrDeadline) {
			t.Errorf("Run = %v, want ErrForced alone", err)
		}
		if cause := context.Cause(ctx); cause != ErrForced {
			t.Errorf("cause %v, want ErrForced", cause)
		}
	})
}

// TestHoldReleaseTwiceAndHoldAfterRun: a second call of one hold's release
// does not release another hold (one taken during the drain); a hold taken
// after Run returned is already cancelled.
func TestHoldReleaseTwiceAndHoldAfterRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln := newPipeListener()
		d := New(Options{Logger: quietLog, Signals: []os.Signal{}})
		d.Add(&http.Server{Handler: hello}, ln)
		_, releaseA := d.Hold()
		errc := make(chan error, 1)
		go func() { errc <- d.Run(context.Background()) }()
		d.Stop()
		synctest.Wait()
		ctxB, releaseB := d.Hold()
		releaseA()
		releaseA()
		time.Sleep(time.Second) // virtual: many poll intervals
		synctest.Wait()
		select {
		case err := <-errc:
			t.Fatalf("Run returned %v with hold B outstanding", err)
		default:
		}
		if ctxB.Err() != nil {
			t.Errorf("hold B cancelled early: %v", context.Cause(ctxB))
		}
		releaseB()
		if err := <-errc; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}

		ctx, release := d.Hold()
		if ctx.Err() == nil {
			t.Error("Hold after Run returned: context not cancelled")
		}
		release()
		release()
	})
}

// TestHoldAfterListenError: Run failing before serving does not leave a
// holder waiting.
func TestHoldAfterListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := New(Options{Logger: quietLog, Signals: []os.Signal{}})
	d.Add(&http.Server{Addr: ln.Addr().String()}, nil)
	ctx, release := d.Hold()
	defer release()
	if err := d.Run(context.Background()); err == nil {
		t.Fatal("Run on a used address returned nil")
	}
	if ctx.Err() == nil {
		t.Error("hold context not cancelled after Run failed")
	}
}
