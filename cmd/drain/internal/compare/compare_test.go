package compare

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestSelectPeers: "all" is every folder with a run script; a list names
// folders that must have one; a missing peer or folder is ErrPeers.
func TestSelectPeers(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"a", "b", "norun"} {
		os.MkdirAll(filepath.Join(dir, p), 0o755)
		if p != "norun" {
			os.WriteFile(filepath.Join(dir, p, "run"), []byte("#!/bin/sh\n"), 0o755)
		}
	}
	os.WriteFile(filepath.Join(dir, "a", "strategy"), []byte("close at once\nmore\n"), 0o644)
	if got, err := SelectPeers(dir, "all"); err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("all: %v, %v; want [a b]", got, err)
	}
	if got, err := SelectPeers(dir, " b, a ,"); err != nil || !slices.Equal(got, []string{"b", "a"}) {
		t.Errorf("list: %v, %v; want [b a]", got, err)
	}
	for _, list := range []string{"a,norun", "zzz"} {
		if _, err := SelectPeers(dir, list); !errors.Is(err, ErrPeers) {
			t.Errorf("%q: %v, want ErrPeers", list, err)
		}
	}
	if _, err := SelectPeers(filepath.Join(dir, "missing"), "all"); !errors.Is(err, ErrPeers) {
		t.Errorf("missing folder: %v, want ErrPeers", err)
	}
	if got, err := SelectPeers(dir, ""); err != nil || got != nil {
		t.Errorf("empty: %v, %v; want none", got, err)
	}
	if s := PeerStrategy(dir, "a"); s != "close at once" {
		t.Errorf("PeerStrategy(a) = %q, want the first line", s)
	}
	if s := PeerStrategy(dir, "b"); s != "framework default" {
		t.Errorf("PeerStrategy(b) = %q, want framework default", s)
	}
}
