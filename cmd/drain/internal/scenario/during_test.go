//go:build unix

package scenario

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is --during's Output in these tests: not a file, so its
// output comes through a pipe.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDuringEndsWhenItExits: --during leaves a process running that keeps
// its output open (a watcher started with &); the run sees During's end
// when During exits (and its output is copied, within child.OutputWait),
// not when that process ends. Before child ran --during, exec.Cmd.Wait
// waited for the output to end when Output was not a file: here 30 s.
func TestDuringEndsWhenItExits(t *testing.T) {
	out := new(lockedBuffer)
	spec := TargetSpec{During: "sleep 30 & echo $!; echo done; exit 3", Output: out}
	start := time.Now()
	waited, _, _, err := spec.startDuring(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var end error
	select {
	case end = <-waited:
	case <-time.After(20 * time.Second): // the sleep is 30 s; OutputWait 1 s
	}
	took := time.Since(start)
	f := strings.Fields(out.String())
	if len(f) > 0 {
		if pid, err := strconv.Atoi(f[0]); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if took >= 20*time.Second {
		t.Fatalf("--during's end not seen 20 s after it exited (output so far %q)", out.String())
	}
	if len(f) != 2 || f[1] != "done" {
		t.Errorf("output %q, want the sleeper's pid and done", out.String())
	}
	if end == nil || end.Error() != "exit status 3" {
		t.Errorf("During's end: %v, want exit status 3", end)
	}
	t.Logf("end seen %v after start", took.Round(time.Millisecond))
}

// TestDuringArmOn: the first and second lines of During's stdout that
// contain ArmOn close the two channels, the last line also without a
// newline; every line reaches Output.
func TestDuringArmOn(t *testing.T) {
	out := new(lockedBuffer)
	spec := TargetSpec{During: "echo x; echo 'a arm'; echo b >&2; printf 'c arm'", Output: out, ArmOn: "arm"}
	waited, first, second, err := spec.startDuring(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("During: %v", err)
	}
	for i, ch := range []<-chan struct{}{first, second} {
		select {
		case <-ch:
		default:
			t.Errorf("line %d with arm not seen (output %q)", i+1, out.String())
		}
	}
	// stdout and stderr are two pipes: b may come anywhere.
	got := out.String()
	if stdout := strings.Replace(got, "b\n", "", 1); stdout != "x\na arm\nc arm" {
		t.Errorf("output %q, want x, a arm, c arm in order and b", got)
	}
}

// TestDuringContextKillsIt: the run's end (ctx) kills During.
func TestDuringContextKillsIt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	spec := TargetSpec{During: "sleep 60"}
	waited, _, _, err := spec.startDuring(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-waited; err == nil || err.Error() != "signal: killed" {
		t.Errorf("During after ctx ended: %v, want signal: killed", err)
	}
}
