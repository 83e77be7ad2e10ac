package apicheck

import (
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
