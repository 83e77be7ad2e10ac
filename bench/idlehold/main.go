// Command idlehold opens n keep-alive connections to addr, sends one
// request on each and reads its answer, prints "held n", and keeps them
// open, quiet, for a while: the quiet connections of bench/drain-stall.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:19402", "server address")
	n := flag.Int("n", 1000, "connections")
	hold := flag.Duration("hold", 30*time.Second, "how long to keep them open")
	flag.Parse()
	if err := run(*addr, *n, *hold); err != nil {
		fmt.Fprintln(os.Stderr, "idlehold:", err)
		os.Exit(1)
	}
}

func run(addr string, n int, hold time.Duration) error {
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return fmt.Errorf("connection %d: %w (raise the fd limit: ulimit -n)", i, err)
		}
		conns = append(conns, c)
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		r, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		r.Body.Close()
	}
	fmt.Println("held", len(conns))
	time.Sleep(hold)
	return nil
}
