package child

import (
	"fmt"
	"strings"
	"testing"
)

// TestTailKeepsLastLines (moved from rollout with Tail).
func TestTailKeepsLastLines(t *testing.T) {
	var tl Tail
	for i := range 15 {
		fmt.Fprintf(&tl, "line %d\n", i)
	}
	tl.Write([]byte("partial"))
	lines := strings.Split(tl.String(), "\n")
	if len(lines) != tailLines+1 || lines[0] != "line 5" || lines[len(lines)-1] != "partial" {
		t.Errorf("tail: %q", lines)
	}
}
