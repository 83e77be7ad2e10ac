package drain

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"

	"syscall"
	"testing"
	"time"
)

// lifecycle is one Drainer on a loopback listener whose only handler blocks
// until release is closed, with one request in flight on it, so a force
// (which cuts that request) is visible.
type lifecycle struct {
	t        *testing.T
	d        *Drainer
	c        *rawConn
	release  chan struct{}
	inFlight chan struct{}
}

func newLifecycle(t *testing.T, opts Options) *lifecycle {
	t.Helper()
	opts.Logger = quietLog
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &lifecycle{t: t, d: New(opts), release: make(chan struct{})}
	inHandler := make(chan struct{}, 1)
	l.d.Add(&http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inHandler <- struct{}{}
		<-l.release
		io.WriteString(w, "done")
	})}, ln)
	l.c = dialRaw(t, ln.Addr().String())
	l.inFlight = inHandler
	return l
}

// startRequest sends the request that stays in flight and waits until the
// handler runs: Run is serving, so its signal subscription is in place.
func (l *lifecycle) startRequest() {
	l.c.write(get)
	<-l.inFlight
}

// finish releases the handler once the lame duck is over (a force would
// have ended it at once) and checks that the request was answered.
func (l *lifecycle) finishUnforced(runErr <-chan error) {
	l.t.Helper()
	for l.d.Phase() < PhaseClosing {
		time.Sleep(time.Millisecond)
	}
	close(l.release)
	if resp, err := l.c.tryResponse(); err != nil || resp.StatusCode != 200 {
		l.t.Errorf("in-flight request: %v, %v: the drain was forced", resp, err)
	}
	l.c.c.Close()
	if err := <-runErr; err != nil {
		l.t.Errorf("Run = %v, want nil", err)
	}
}

// TestOklogRunGroupDoesNotForce: oklog/run's usual setup, written out: a
// signal actor (run.SignalHandler) and the actor {d.Run, d.Stop}, with the
// Drainer's own Signals. One signal reaches both; the group then calls
// d.Stop as the Drainer's interrupt. That Stop is the first one: it must
// join the drain the signal began, not force it.
func TestOklogRunGroupDoesNotForce(t *testing.T) {
	l := newLifecycle(t, Options{Delay: 200 * time.Millisecond, Signals: []os.Signal{syscall.SIGUSR1}})
	defer signal.Reset(syscall.SIGUSR1)

	// run.SignalHandler's execute: wait for the signal or the interrupt.
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGUSR1)
	defer signal.Stop(sigc)
	stopSig := make(chan struct{})
	actors := []struct {
		execute   func() error
		interrupt func(error)
	}{
		{func() error {
			select {
			case s := <-sigc:
				return errors.New("received signal " + s.String())
			case <-stopSig:
				return nil
			}
		}, func(error) { close(stopSig) }},
		{func() error { return l.d.Run(context.Background()) }, func(error) { l.d.Stop() }},
	}
	// run.Group.Run: the first actor to return interrupts every actor,
	// then all are waited for; Run's error is reported separately here.
	errs := make(chan error, len(actors))
	runErr := make(chan error, 1)
	for i, a := range actors {
		go func() {
			err := a.execute()
			if i == 1 {
				runErr <- err
			}
			errs <- err
		}()
	}
	l.startRequest()
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	<-errs // the signal actor
	for _, a := range actors {
		a.interrupt(nil)
	}
	l.finishUnforced(runErr)
	<-errs
}

// TestErrgroupCancelThenStopDoesNotForce: errgroup's lifecycle: another
// member fails, the group's context (Run's ctx) is cancelled and begins the
// drain, and the member that serves calls d.Stop as its interrupt. One
// drain: that first Stop must not force it.
func TestErrgroupCancelThenStopDoesNotForce(t *testing.T) {
	l := newLifecycle(t, Options{Delay: 200 * time.Millisecond, Signals: []os.Signal{}})
	ctx, cancel := context.WithCancelCause(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- l.d.Run(ctx) }()
	l.startRequest()
	cancel(errors.New("worker failed")) // errgroup cancels on the first error
	<-l.d.Draining()                    // the drain the context began...
	if l.d.Stop() != true {             // ...then the interrupt
		t.Error("first Stop reported false")
	}
	l.finishUnforced(runErr)
	if l.d.Stop() {
		t.Error("Stop after Run returned reported true")
	}
}

// TestNotifyContextDoesNotForce: signal.NotifyContext and the Drainer's own
// Signals both receive one SIGUSR1; the program's teardown also calls
// d.Stop (as a deferred cleanup would). One signal and one Stop: one drain.
func TestNotifyContextDoesNotForce(t *testing.T) {
	l := newLifecycle(t, Options{Delay: 200 * time.Millisecond, Signals: []os.Signal{syscall.SIGUSR1}})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGUSR1)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- l.d.Run(ctx) }()
	l.startRequest()
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	<-ctx.Done()
	<-l.d.Draining()
	l.d.Stop()
	l.finishUnforced(runErr)
}

// TestCtrlCTwiceForces: in a terminal, with signal.NotifyContext as most
// programs set it up, a second Ctrl-C forces the drain however soon it
// follows the first.
func TestCtrlCTwiceForces(t *testing.T) {
	l := newLifecycle(t, Options{Delay: 10 * time.Second, Signals: []os.Signal{syscall.SIGUSR1}})
	defer close(l.release)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGUSR1)
	defer stop()
	runErr := make(chan error, 1)
	go func() { runErr <- l.d.Run(ctx) }()
	l.startRequest()
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	<-ctx.Done() // os/signal has handed this signal to every subscriber
	<-l.d.Draining()
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	select {
	case err := <-runErr:
		if !errors.Is(err, ErrForced) {
			t.Errorf("Run = %v, want ErrForced", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second signal did not force the drain")
	}
	if !l.c.closedByServer() {
		t.Error("in-flight connection not closed by the force")
	}
}
