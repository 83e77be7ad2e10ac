package netpath_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
	"github.com/drainhttp/drain/cmd/drain/internal/netpath"
)

// A Relay on loopback adds 10ms each way in front of a server.
func ExampleRelay() {
	srv, _ := net.Listen("tcp", "127.0.0.1:0")
	defer srv.Close()
	go func() {
		c, err := srv.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c) // echo
		c.Close()
	}()

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	r := netpath.NewRelay(ln, srv.Addr().String(), nil, netpath.Latency{Delay: 10 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- r.Serve() }()
	defer func() { r.Close(); <-done }()

	c, _ := net.Dial("tcp", r.Addr().String())
	defer c.Close()
	start := time.Now()
	c.Write([]byte("ping"))
	b := make([]byte, 4)
	io.ReadFull(c, b)
	fmt.Println(string(b), time.Since(start) >= 20*time.Millisecond)
	// Output: ping true
}

// The kernel path: a namespace, a Service, a replica listening inside the
// namespace, and a connection through the VIP (needs root, ip and nft).
func ExampleService() {
	ns, err := netpath.NewNamespace()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ns.Close()
	svc, err := netpath.NewService(ns, netpath.DefaultVIP)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Close()

	ln, _ := ns.Listen("tcp", "127.0.0.1:0") // or: ns.Command(replica argv...)
	defer ln.Close()
	svc.SetEndpoints([]endpoint.Endpoint{{Addr: ln.Addr().String(), Replica: 7}})

	ep, _ := svc.Pick() // the VIP, replica -1
	c, replica, err := svc.Dial(context.Background(), ep)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Println(ep.Addr, "->", replica)
}
