package drain_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestREADMECodeBlocksCompile: every Go block in the README appears, line
// for line (indentation aside), in an Example of this package, so the
// compiler checks it with the tests. Examples without an Output comment are
// compiled, not run.
func TestREADMECodeBlocksCompile(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var examples strings.Builder
	for _, f := range []string{"example_test.go", "example_readme_test.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		examples.Write(b)
	}
	norm := func(s string) string {
		var out []string
		for _, l := range strings.Split(s, "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
		return "\n" + strings.Join(out, "\n") + "\n"
	}
	code := norm(examples.String())
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) == 0 {
		t.Fatal("no Go block found in README.md")
	}
	for _, b := range blocks {
		if !strings.Contains(code, norm(b[1])) {
			t.Errorf("README block not in any Example (copy it into example_readme_test.go):\n%s", b[1])
		}
	}
}
