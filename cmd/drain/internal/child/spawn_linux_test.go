package child

import (
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestStartThreadExitKeepsChild: the thread that called Start exits right
// after (its goroutine returns while locked to it, as netpath's namespace
// workers' do), and the child lives on: Pdeathsig is about drain dying,
// not one of its threads. Before the forking thread, Start forked from the
// caller's thread and the child got SIGKILL here.
func TestStartThreadExitKeepsChild(t *testing.T) {
	type started struct {
		p   *Process
		tid int
		err error
	}
	start := func() started {
		ch := make(chan started, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
			p, err := Start(Config{Args: []string{"sleep", "60"}})
			ch <- started{p, unix.Gettid(), err}
		}()
		return <-ch
	}
	s := start()
	if s.err == nil && s.tid == os.Getpid() {
		// The main thread is wedged, not ended, when its locked goroutine
		// returns (runtime.mexit); it stays locked, so the next one runs
		// elsewhere.
		s.p.KillGroup()
		<-s.p.Done()
		s = start()
	}
	if s.err != nil {
		t.Fatal(s.err)
	}
	// The thread is gone from /proc once it has exited; the kernel sends
	// the parent-death signal on its way out, so from then on a SIGKILL
	// would be pending.
	task := "/proc/self/task/" + strconv.Itoa(s.tid)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(task); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			s.p.KillGroup()
			t.Fatalf("thread %d still there 10 s after its goroutine returned", s.tid)
		}
	}
	if err := s.p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-s.p.Done()
	ws := s.p.State().Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("child ended with %v, want killed by our SIGTERM (SIGKILL: the parent-death signal of the thread that forked it)", s.p.State())
	}
}
