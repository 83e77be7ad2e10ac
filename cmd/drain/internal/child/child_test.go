//go:build linux

package child

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestReady: one readiness rule, Kubernetes' for an httpGet probe.
func TestReady(t *testing.T) {
	for status, want := range map[int]bool{199: false, 200: true, 204: true, 301: true, 399: true, 400: false, 503: false} {
		if Ready(status) != want {
			t.Errorf("Ready(%d) = %v, want %v", status, !want, want)
		}
	}
}

// TestParseSignal: names with or without SIG, any case, and numbers; the
// names come from x/sys/unix, so every signal has one.
func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{
		"TERM": syscall.SIGTERM, "sigterm": syscall.SIGTERM, "SIGINT": syscall.SIGINT, "winch": syscall.SIGWINCH,
		"15": syscall.SIGTERM, "PWR": syscall.SIGPWR, "USR2": syscall.SIGUSR2,
	} {
		if got, ok := ParseSignal(in); !ok || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "TERMINATE", "0", "65", "-1", "SIG"} {
		if got, ok := ParseSignal(in); ok {
			t.Errorf("ParseSignal(%q) = %v, want not a signal", in, got)
		}
	}
}

// TestSignalName: the names drain test's report shows come from
// x/sys/unix's table, with a number for a signal it does not name.
func TestSignalName(t *testing.T) {
	for s, want := range map[syscall.Signal]string{
		syscall.SIGKILL: "SIGKILL", syscall.SIGTERM: "SIGTERM", syscall.SIGSEGV: "SIGSEGV", syscall.Signal(99): "signal 99",
	} {
		if got := SignalName(s); got != want {
			t.Errorf("SignalName(%d) = %q, want %q", int(s), got, want)
		}
	}
}

// TestWaitExitDoesNotReap: WaitExit returns once the process has exited
// and leaves it a zombie, so its pid is not reused until it is reaped.
func TestWaitExitDoesNotReap(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if err := WaitExit(pid); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatalf("pid %d gone after WaitExit (reaped?): %v", pid, err)
	}
	if f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:])); f[0] != "Z" {
		t.Errorf("pid %d state %q after WaitExit, want Z (exited, not reaped)", pid, f[0])
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}
