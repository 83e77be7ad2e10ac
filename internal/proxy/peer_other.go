//go:build !unix

package proxy

import "net"

func peerClosed(net.Conn) bool { return false }

type peeker struct{}

func newPeeker(net.Conn) *peeker { return &peeker{} }

func (*peeker) peerClosed() bool { return false }
