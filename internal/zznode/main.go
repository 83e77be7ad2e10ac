// Throwaway: old (library, Delay 1s) and new (plain) h2c servers; prints ports;
// Stop on the first line of stdin; exits after Run returns.
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/drainhttp/drain"
)

func main() {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body); io.WriteString(w, "ok") })
	oldLn, _ := net.Listen("tcp", "127.0.0.1:0")
	newLn, _ := net.Listen("tcp", "127.0.0.1:0")
	d := drain.New(drain.Options{Delay: time.Second, Signals: []os.Signal{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	d.Add(&http.Server{Handler: h, Protocols: p}, oldLn)
	go (&http.Server{Handler: h, Protocols: p}).Serve(newLn)
	errc := make(chan error, 1)
	go func() { errc <- d.Run(context.Background()) }()
	fmt.Println(oldLn.Addr().(*net.TCPAddr).Port, newLn.Addr().(*net.TCPAddr).Port)
	bufio.NewReader(os.Stdin).ReadString('\n')
	d.Stop()
	fmt.Fprintln(os.Stderr, "Run:", <-errc, "accepted", d.Stats().Accepted)
}
