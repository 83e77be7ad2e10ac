//go:build linux

package child

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// syncBuffer is a buffer the test may read while child writes to it;
// line is closed when the first line is complete.
type syncBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	once sync.Once
	line chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{line: make(chan struct{})} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if bytes.IndexByte(p, '\n') >= 0 {
		s.once.Do(func() { close(s.line) })
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestOutputCopiedBeforeDoneWithReapAll: drain exec's application writes
// to a writer that is not a file (a log buffer); with ReapAll nobody calls
// exec.Cmd.Wait, and the output is still all there when Done is closed.
// Before child copied the output itself, os/exec's copying goroutine was
// never waited for: the buffer was read while it was still being written
// (a data race under -race, lines missing without).
func TestOutputCopiedBeforeDoneWithReapAll(t *testing.T) {
	var out bytes.Buffer // no lock: Done must order the writes before the read
	// 200 lines on each of stdout and stderr, then 60,000 bytes at once:
	// most of a pipe's buffer, still unread when the shell exits.
	script := "for i in $(seq 0 199); do echo line $i; echo line $i >&2; done; head -c 60000 /dev/zero | tr '\\0' x"
	p, err := Start(Config{Args: []string{"sh", "-c", script}, Stdout: &out, Stderr: &out, ReapAll: true})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	p.Cleanup(time.Second)
	got := out.String()
	if n := strings.Count(got, "\n"); n != 400 || !strings.HasSuffix(got, strings.Repeat("x", 60000)) {
		t.Fatalf("%d lines and %d bytes after Done, want 400 lines and 60,000 x (stdout and stderr through one pipe)", n, len(got))
	}
	if code := p.ExitCode(); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// TestOutputHeldOpenDoesNotHoldDone: a process the child left running
// keeps the output pipe open; Done still comes OutputWait after the reap
// (not when that process ends), with the output written before.
func TestOutputHeldOpenDoesNotHoldDone(t *testing.T) {
	out := newSyncBuffer()
	start := time.Now()
	p, err := Start(Config{Args: []string{"sh", "-c", "sleep 30 & echo $!; echo bye"}, Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	took := time.Since(start)
	fields := strings.Fields(out.String())
	if len(fields) != 2 || fields[1] != "bye" {
		t.Fatalf("output %q, want the sleeper's pid and bye", out.String())
	}
	if pid, err := strconv.Atoi(fields[0]); err == nil {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	if took >= 30*time.Second {
		t.Errorf("Done after %v: it waited for the process holding the pipe", took)
	}
	t.Logf("Done %v after start (OutputWait %v)", took.Round(time.Millisecond), OutputWait)
}

// TestWaitLikeExecCmd: Wait reports the status as exec.Cmd.Wait did, so
// --during's messages ("exit status 3") stay the same.
func TestWaitLikeExecCmd(t *testing.T) {
	for script, want := range map[string]string{"exit 0": "", "exit 3": "exit status 3", "kill -9 $$": "signal: killed"} {
		p, err := Start(Config{Args: []string{"sh", "-c", script}})
		if err != nil {
			t.Fatal(err)
		}
		err = p.Wait()
		got := ""
		if err != nil {
			got = err.Error()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Errorf("%s: %T, want *exec.ExitError", script, err)
			}
		}
		if got != want {
			t.Errorf("%s: Wait() = %q, want %q", script, got, want)
		}
	}
}

// TestStartContextKillsGroup: when ctx ends, the process and what it
// started in its group get SIGKILL, as --during's exec.CommandContext with
// a group-killing Cancel did.
func TestStartContextKillsGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := newSyncBuffer()
	p, err := StartContext(ctx, Config{Args: []string{"sh", "-c", "sleep 60 & echo $!; wait"}, Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-out.line:
	case <-p.Done():
		t.Fatalf("the script ended on its own: %v, output %q", p.Wait(), out.String())
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pidfd)
	cancel()
	if err := p.Wait(); err == nil || err.Error() != "signal: killed" {
		t.Errorf("Wait() = %v, want signal: killed", err)
	}
	// The background sleep was in the group: killed too (its pidfd turns
	// readable when it exits).
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 10_000)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the script's background process %d still runs 10 s after ctx ended", pid)
		}
		break
	}
	if _, err := StartContext(ctx, Config{Args: []string{"true"}}); !errors.Is(err, context.Canceled) {
		t.Errorf("StartContext with an ended ctx: %v, want context.Canceled", err)
	}
}
