package apicheck

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestNames(t *testing.T) {
	got, err := Names(".")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Check", "Names"}; !slices.Equal(got, want) {
		t.Errorf("Names = %v, want %v (declNames and test files are skipped)", got, want)
	}
}

func TestNamesListsExportedFields(t *testing.T) {
	dir := t.TempDir()
	src := "package p\n\ntype Options struct {\n\tDelay, Quiet int\n\thidden int\n\t*Embedded\n}\n\ntype Embedded struct{}\n\ntype private struct{ Field int }\n"
	if err := os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Names(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Embedded", "Options", "Options.Delay", "Options.Embedded", "Options.Quiet"}
	if !slices.Equal(got, want) {
		t.Errorf("Names = %v, want %v", got, want)
	}
}
