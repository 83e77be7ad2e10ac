// Command loadclient runs drain test's load client (internal/load) alone
// against a running server, for measuring the client itself: requests/s it
// sustains, CPU (run it under /usr/bin/time -v) and memory per recorded
// request.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
	"github.com/drainhttp/drain/cmd/drain/internal/load"
)

type target struct{ ep endpoint.Endpoint }

func (t target) Pick() (endpoint.Endpoint, bool) { return t.ep, true }

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "server address")
	rate := flag.Float64("rate", 30000, "requests per second")
	dur := flag.Duration("duration", 10*time.Second, "how long")
	conns := flag.Int("conns", load.DefaultConns, "persistent connections (HTTP/1.1)")
	protocol := flag.String("protocol", "h1", "h1 or h2c (HTTP/2 streams over load.Config.H2Conns connections)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadclient:", err)
			os.Exit(2)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	rs, err := load.Run(context.Background(), load.Config{
		Rate: *rate, Duration: *dur, Conns: *conns, Protocol: *protocol,
		Idle: -1, HalfSent: -1, SlowBody: -1,
	}, target{endpoint.Endpoint{Addr: *addr}})
	elapsed := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadclient:", err)
		return
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	ok, late := 0, 0
	lat := make([]time.Duration, 0, len(rs))
	for _, r := range rs {
		if r.Outcome == load.OK {
			ok++
			lat = append(lat, r.Latency())
		}
		if r.Sent-r.Intended > time.Millisecond {
			late++
		}
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(q*float64(len(lat)-1))]
	}
	fmt.Printf("sent %d ok %d in %.2fs: %.0f ok/s; sent >1ms late %.1f%%; latency p50 %v p99 %v max %v\n",
		len(rs), ok, elapsed.Seconds(), float64(ok)/dur.Seconds(), 100*float64(late)/float64(max(len(rs), 1)), p(0.5), p(0.99), p(1))
	fmt.Printf("heap allocated during the run: %d bytes, %.1f bytes per recorded request\n",
		after.TotalAlloc-before.TotalAlloc, float64(after.TotalAlloc-before.TotalAlloc)/float64(max(len(rs), 1)))
}
