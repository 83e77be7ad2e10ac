package child

import (
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func becomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// killOrphans sends SIGKILL to every remaining child of this process: the
// application's orphans that left its process group.
func killOrphans() {
	for _, pid := range Children() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// Children returns the pids of this process's children, zombies included
// (from /proc; tests use it to see that nothing was left behind).
func Children() []int {
	self := os.Getpid()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid(pid) == self {
			out = append(out, pid)
		}
	}
	return out
}

// ppid reads the parent pid from /proc/pid/stat ("pid (comm) state ppid ...").
func ppid(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// WaitExit blocks until the process pid has exited, without reaping it
// (waitid with WNOWAIT), so that its pid and process group id cannot be
// reused while what is left of its group is being killed.
func WaitExit(pid int) error {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return err
		}
	}
}
