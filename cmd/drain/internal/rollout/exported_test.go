package rollout

import (
	"testing"

	"github.com/drainhttp/drain/internal/apicheck"
)

// TestExportedNames keeps the exported surface a deliberate choice: a new
// export must be added to testdata/exported.txt.
func TestExportedNames(t *testing.T) {
	apicheck.Check(t, "testdata/exported.txt", false)
}
