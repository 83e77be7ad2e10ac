package main

import (
	"testing"

	"github.com/drainhttp/drain/examples/internal/examplestest"
)

func TestDrainsOnStop(t *testing.T) { examplestest.Check(t, run, examplestest.Stop, nil) }

func TestDrainsOnCancel(t *testing.T) { examplestest.Check(t, run, examplestest.Cancel, nil) }
