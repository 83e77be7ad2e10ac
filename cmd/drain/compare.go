package main

import (
	"context"
	"io"
)

func runCompare(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return usagef("compare: not yet")
}
