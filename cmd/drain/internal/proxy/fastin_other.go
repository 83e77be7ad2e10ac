//go:build !linux

package proxy

// Raw reads are Linux's (see fastin.go); elsewhere a connection is read
// with its Read.
const rawInput = false

func rawRead(int, []byte) (int, error) { return 0, errWouldBlock }

func rawSend(int, []byte) int { return 0 }
