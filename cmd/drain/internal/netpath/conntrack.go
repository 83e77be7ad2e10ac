//go:build linux

package netpath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// conntrack asks the kernel's connection tracking (ctnetlink, the interface
// the conntrack program uses) where a connection was DNATed to. The netlink
// socket is created inside the namespace, so it sees the namespace's table.
type conntrack struct {
	mu  sync.Mutex // one request at a time on fd
	fd  int
	seq uint32
	buf []byte
}

// ctnetlink constants (linux/netfilter/nfnetlink_conntrack.h).
const (
	ipctnlMsgCtGet  = 1
	ctaTupleOrig    = 1
	ctaTupleReply   = 2
	ctaTupleIP      = 1
	ctaTupleProto   = 2
	ctaIPv4Src      = 1
	ctaIPv4Dst      = 2
	ctaProtoNum     = 1
	ctaProtoSrcPort = 2
	ctaProtoDstPort = 3
	nlaNested       = 0x8000
	nlaTypeMask     = 0x3fff
)

func openConntrack(ns *Namespace) (*conntrack, error) {
	ct := &conntrack{fd: -1, buf: make([]byte, 8192)}
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			unix.Close(fd)
			return err
		}
		// A lookup must not hang if the kernel never answers.
		tv := unix.Timeval{Sec: 1}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return err
		}
		ct.fd = fd
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("netpath: conntrack netlink socket in %s: %w", ns.name, err)
	}
	return ct, nil
}

func (ct *conntrack) close() {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if ct.fd >= 0 {
		unix.Close(ct.fd)
		ct.fd = -1
	}
}

// replySource returns the source of the reply direction of the TCP
// connection src -> dst: after DNAT, the endpoint the connection reached.
func (ct *conntrack) replySource(src, dst netip.AddrPort) (netip.AddrPort, error) {
	if !src.Addr().Is4() || !dst.Addr().Is4() {
		return netip.AddrPort{}, errors.New("netpath: conntrack lookup: IPv4 only")
	}
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if ct.fd < 0 {
		return netip.AddrPort{}, ErrClosed
	}
	ct.seq++
	msg := ctGetRequest(ct.seq, src, dst)
	if err := unix.Sendto(ct.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return netip.AddrPort{}, fmt.Errorf("netpath: conntrack lookup: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(ct.fd, ct.buf, 0)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("netpath: conntrack lookup: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(ct.buf[:n])
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("netpath: conntrack lookup: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != ct.seq {
				continue // a stale answer to a request that timed out
			}
			if m.Header.Type == unix.NLMSG_ERROR {
				if len(m.Data) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
						return netip.AddrPort{}, fmt.Errorf("netpath: conntrack lookup %v -> %v: %w", src, dst, unix.Errno(-e))
					}
				}
				return netip.AddrPort{}, fmt.Errorf("netpath: conntrack lookup %v -> %v: no entry", src, dst)
			}
			if len(m.Data) < 4 {
				return netip.AddrPort{}, errors.New("netpath: conntrack lookup: short answer")
			}
			return parseReplySource(m.Data[4:]) // after struct nfgenmsg
		}
	}
}

// ctGetRequest builds an IPCTNL_MSG_CT_GET request for the original tuple
// src -> dst, TCP.
func ctGetRequest(seq uint32, src, dst netip.AddrPort) []byte {
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	ip := append(nlattr(ctaIPv4Src, s4[:]), nlattr(ctaIPv4Dst, d4[:])...)
	proto := nlattr(ctaProtoNum, []byte{unix.IPPROTO_TCP})
	proto = append(proto, nlattr(ctaProtoSrcPort, binary.BigEndian.AppendUint16(nil, src.Port()))...)
	proto = append(proto, nlattr(ctaProtoDstPort, binary.BigEndian.AppendUint16(nil, dst.Port()))...)
	tuple := append(nlattr(ctaTupleIP|nlaNested, ip), nlattr(ctaTupleProto|nlaNested, proto)...)
	body := []byte{unix.AF_INET, 0 /* NFNETLINK_V0 */, 0, 0 /* res_id */}
	body = append(body, nlattr(ctaTupleOrig|nlaNested, tuple)...)

	msg := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(body))
	binary.NativeEndian.PutUint32(msg[0:], uint32(unix.NLMSG_HDRLEN+len(body)))
	binary.NativeEndian.PutUint16(msg[4:], unix.NFNL_SUBSYS_CTNETLINK<<8|ipctnlMsgCtGet)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(msg[8:], seq)
	return append(msg, body...)
}

// nlattr encodes one netlink attribute, padded to 4 bytes.
func nlattr(typ uint16, payload []byte) []byte {
	n := 4 + len(payload)
	b := make([]byte, 4, (n+3)&^3)
	binary.NativeEndian.PutUint16(b[0:], uint16(n))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// attrs splits b into attributes by type (the nested flag cleared).
func attrs(b []byte) map[uint16][]byte {
	m := map[uint16][]byte{}
	for len(b) >= 4 {
		n := int(binary.NativeEndian.Uint16(b[0:]))
		if n < 4 || n > len(b) {
			break
		}
		m[binary.NativeEndian.Uint16(b[2:])&nlaTypeMask] = b[4:n]
		b = b[min((n+3)&^3, len(b)):]
	}
	return m
}

// parseReplySource reads CTA_TUPLE_REPLY's source address and port from
// the attributes of a conntrack message.
func parseReplySource(b []byte) (netip.AddrPort, error) {
	bad := errors.New("netpath: conntrack lookup: answer without a reply tuple")
	reply, ok := attrs(b)[ctaTupleReply]
	if !ok {
		return netip.AddrPort{}, bad
	}
	t := attrs(reply)
	ip, port := attrs(t[ctaTupleIP]), attrs(t[ctaTupleProto])
	a, okA := netip.AddrFromSlice(ip[ctaIPv4Src])
	p := port[ctaProtoSrcPort]
	if !okA || len(p) != 2 {
		return netip.AddrPort{}, bad
	}
	return netip.AddrPortFrom(a, binary.BigEndian.Uint16(p)), nil
}
