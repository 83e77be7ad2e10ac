//go:build unix

package child

import (
	"os/exec"
	"runtime"
	"sync"
)

// Children are forked from one OS thread that lives while any of them
// does. Pdeathsig (Linux: SIGKILL to the child when its parent dies) fires
// when the *thread* that forked the child exits, not the process
// (golang/go#27505). Go ends a thread whose goroutine exits while locked
// to it, and netpath's namespace workers do exactly that; any thread may
// have forked a child before a worker locked it. Replicas started under
// --network=kernel were killed that way mid-run ("replica exited before it
// was ready: signal: killed", TestKernelCancelCleansUp). Forking from a
// thread locked to a goroutine that outlives every child keeps Pdeathsig's
// meaning: drain itself died.
var forker struct {
	mu   sync.Mutex
	work chan func() // nil while no child lives
	live int         // children started and not yet reaped
}

// startCmd starts cmd on the forking thread. The caller calls release
// once the child is reaped (or at once, when startCmd fails).
func startCmd(cmd *exec.Cmd) error {
	forker.mu.Lock()
	if forker.work == nil {
		forker.work = make(chan func())
		go forkLoop(forker.work)
	}
	forker.live++ // before sending: no release can close work under us
	work := forker.work
	forker.mu.Unlock()
	errc := make(chan error, 1)
	work <- func() { errc <- cmd.Start() }
	return <-errc
}

// release ends the forking thread's duty for one child; with none left,
// its goroutine unlocks the thread and returns.
func release() {
	forker.mu.Lock()
	defer forker.mu.Unlock()
	forker.live--
	if forker.live == 0 {
		close(forker.work)
		forker.work = nil
	}
}

func forkLoop(work chan func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread() // every child it forked is reaped
	for f := range work {
		f()
	}
}
