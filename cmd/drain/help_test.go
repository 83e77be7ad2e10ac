package main

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var updateHelp = flag.Bool("update-help", false, "rewrite testdata/help/*.golden")

// TestHelpGolden keeps every subcommand's help text a deliberate choice: a
// changed flag, default or wording shows up as a diff of testdata/help/.
func TestHelpGolden(t *testing.T) {
	// Some defaults come from the environment.
	t.Setenv("PORT", "")
	t.Setenv("HELLO_REST_REQUEST_DELAY", "")
	for _, cmd := range []string{"", "hello", "test", "compare", "exec"} {
		name := cmd
		args := []string{cmd, "-h"}
		if cmd == "" {
			name, args = "drain", []string{"help"}
		}
		t.Run(name, func(t *testing.T) {
			stdout, stderr, code := run(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			got := stdout + stderr
			golden := filepath.Join("testdata", "help", name+".golden")
			if *updateHelp {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestHelpGolden -update-help)", err)
			}
			if got != string(want) {
				t.Errorf("help of %q changed; if on purpose, rerun with -update-help\ngot:\n%s", name, got)
			}
		})
	}
}
