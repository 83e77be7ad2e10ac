//go:build unix && !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package child

import "errors"

// WaitExit is not available here (Linux: waitid with WNOWAIT; the BSDs:
// kqueue): a child is then reaped first and OnExit runs after.
func WaitExit(pid int) error { return errors.ErrUnsupported }
