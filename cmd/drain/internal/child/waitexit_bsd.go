//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package child

import (
	"errors"

	"golang.org/x/sys/unix"
)

// WaitExit blocks until the process pid has exited, without reaping it
// (kqueue's EVFILT_PROC NOTE_EXIT), so that its pid and process group id
// cannot be reused while what is left of its group is being killed.
func WaitExit(pid int) error {
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
