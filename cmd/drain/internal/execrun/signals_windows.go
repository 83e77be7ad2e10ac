package execrun

import "os"

// forwarded: Windows has no signals to forward (drain exec cannot start an
// application there: child.ErrNoSignals).
var forwarded = []os.Signal{}
