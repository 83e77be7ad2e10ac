//go:build !linux

package proxy

import "net"

func peerClosed(net.Conn) bool { return false }

type peeker struct{}

func newPeeker(net.Conn) *peeker { return &peeker{} }

func (*peeker) peerClosed() bool { return false }

func (*peeker) hasData() bool { return false }

type sendAwait struct{}

func newSendAwait(net.Conn) *sendAwait { return nil }

func (*sendAwait) do(out, in []byte) (int, []byte, error) { return 0, out, nil }
