//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package rollout

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// replicaSysProcAttr puts a replica in a process group of its own (killGroup
// kills it with whatever it started). These systems have no Pdeathsig: a
// replica of a drain that crashed keeps running until killed by hand.
func replicaSysProcAttr() (*syscall.SysProcAttr, error) {
	return &syscall.SysProcAttr{Setpgid: true}, nil
}

// waitExit blocks until the process pid has exited, without reaping it
// (kqueue's EVFILT_PROC NOTE_EXIT), so its pid and process group id cannot
// be reused while the group is being killed.
func waitExit(pid int) error {
	kq, err := unix.Kqueue()
	if err != nil {
		return err
	}
	defer unix.Close(kq)
	ev := []unix.Kevent_t{{}}
	unix.SetKevent(&ev[0], pid, unix.EVFILT_PROC, unix.EV_ADD|unix.EV_ONESHOT)
	ev[0].Fflags = unix.NOTE_EXIT
	for {
		_, err := unix.Kevent(kq, ev, ev, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ESRCH):
			return nil // already exited (a zombie cannot be watched)
		}
		return err
	}
}
