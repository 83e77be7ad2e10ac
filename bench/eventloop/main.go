// Command eventloop is a measuring stick, not a proxy to use: the least a Go
// reverse proxy on loopback can cost per request. One goroutine, locked to
// its thread, owns an epoll set with the listener, every client socket and
// one upstream connection per client, level-triggered; a readable socket's
// bytes are written to its peer as they are, with no parsing, no pooling,
// no timeouts and no drain. bench/exec-proxy runs it next to drain exec,
// HAProxy and nginx (FLOOR=1) to show how far a goroutine-per-connection
// proxy is from an event loop of its own (issue 19, goal 1).
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:19105", "address to listen on")
	upstream := flag.String("upstream", "127.0.0.1:19101", "the application's address")
	flag.Parse()
	err := run(*listen, *upstream) // returns only on an error: it serves until killed
	fmt.Fprintln(os.Stderr, "eventloop:", err)
	os.Exit(1)
}

func sockaddr(s string) (*syscall.SockaddrInet4, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("%q is not an IPv4 address:port", s)
	}
	return &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}, nil
}

func run(listen, upstream string) error {
	la, err := sockaddr(listen)
	if err != nil {
		return err
	}
	ua, err := sockaddr(upstream)
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	ln, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	syscall.SetsockoptInt(ln, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	if err := syscall.Bind(ln, la); err != nil {
		return err
	}
	if err := syscall.Listen(ln, 4096); err != nil {
		return err
	}
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	add := func(fd int) error {
		return syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)})
	}
	if err := add(ln); err != nil {
		return err
	}
	peer := map[int]int{} // client <-> upstream, both directions
	closePair := func(fd int) {
		p := peer[fd]
		delete(peer, fd)
		delete(peer, p)
		syscall.Close(fd)
		syscall.Close(p)
	}
	buf := make([]byte, 64<<10)
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(ep, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			if fd == ln {
				for {
					c, _, err := syscall.Accept4(ln, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
					if err != nil {
						break
					}
					u, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
					if err == nil {
						err = syscall.Connect(u, ua) // blocking: loopback connects at once
					}
					if err != nil {
						syscall.Close(c)
						if u > 0 {
							syscall.Close(u)
						}
						continue
					}
					syscall.SetNonblock(u, true)
					syscall.SetsockoptInt(c, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
					syscall.SetsockoptInt(u, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
					peer[c], peer[u] = u, c
					add(c)
					add(u)
				}
				continue
			}
			p, ok := peer[fd]
			if !ok {
				continue
			}
			// Raw system calls on non-blocking sockets: they return at
			// once, and the runtime need not hand the thread's P over.
			m, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
			if e == syscall.EAGAIN {
				continue
			}
			if e != 0 || m == 0 {
				closePair(fd)
				continue
			}
			// Small requests and responses: the peer's buffer has room.
			w, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(p), uintptr(unsafe.Pointer(&buf[0])), m, syscall.MSG_NOSIGNAL, 0, 0)
			if e != 0 || w != m {
				closePair(fd)
			}
		}
	}
}
