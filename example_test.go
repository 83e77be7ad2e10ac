package drain_test

import (
	"context"
	"expvar"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/drainhttp/drain"
)

// The whole change to an existing net/http server: mount the readiness
// handler and let a Drainer run the server.
func Example() {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })

	d := drain.New(drain.Options{})
	mux.Handle("/readyz", d.Ready())
	mux.Handle("/livez", d.Live())
	d.Add(&http.Server{Addr: "127.0.0.1:0", Handler: mux}, nil)

	go d.Stop() // in production: SIGTERM
	err := d.Run(context.Background())
	fmt.Println("drained:", err)
	// Output: drained: <nil>
}

// A public API and an admin server drain together; cleanup steps run after
// both, in reverse order.
func ExampleDrainer_OnShutdown() {
	d := drain.New(drain.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for range 2 { // api and admin
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		mux := http.NewServeMux()
		mux.Handle("/readyz", d.Ready())
		d.Add(&http.Server{Handler: mux}, ln)
	}
	d.OnShutdown("database", func(ctx context.Context) error { fmt.Println("close database"); return nil })
	d.OnShutdown("tracer", func(ctx context.Context) error { fmt.Println("flush tracer"); return nil })
	d.Stop()
	fmt.Println(d.Run(context.Background()))
	// Output:
	// flush tracer
	// close database
	// <nil>
}

// A long-lived handler (server-sent events, long poll) ends on its own when
// the drain begins, well before the deadline.
func ExampleDrainer_Draining() {
	d := drain.New(drain.Options{})
	events := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-d.Draining():
				io.WriteString(w, "event: bye\n\n")
				return
			case <-r.Context().Done():
				return
			case <-tick.C:
				io.WriteString(w, "event: tick\n\n")
				w.(http.Flusher).Flush()
			}
		}
	})
	d.Add(&http.Server{Addr: ":8080", Handler: events}, nil)
}

// A handler that answers at once and finishes its work in the background
// (a webhook, say) holds the drain until that work is done.
func ExampleDrainer_Hold() {
	d := drain.New(drain.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	d.Add(&http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, release := d.Hold() // before responding: the drain may begin right after
		go func() {
			defer release()
			// Stands for slow work, still going when the drain begins; ctx
			// would tell it to give up at the drain's deadline.
			<-d.Draining()
			if ctx.Err() == nil {
				fmt.Println("webhook sent")
			}
		}()
		w.WriteHeader(http.StatusAccepted)
	})}, ln)

	go func() {
		req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/", nil)
		req.Close = true // leave no idle connection for the drain to wait out
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			fmt.Println(resp.Status)
		}
		d.Stop() // in production: SIGTERM
	}()
	fmt.Println(d.Run(context.Background()))
	// Output:
	// 202 Accepted
	// webhook sent
	// <nil>
}

// Stats are plain numbers: publish them with expvar, or copy them into a
// metrics library.
func ExampleDrainer_Stats() {
	d := drain.New(drain.Options{})
	expvar.Publish("drain", expvar.Func(func() any { return d.Stats() }))
	fmt.Println(d.Stats().Phase)
	// Output: serving
}

// The immediate hang-up policy, for comparison: fast, and it races requests
// already on the wire.
func ExampleIdlePolicy() {
	var p drain.IdlePolicy
	err := p.UnmarshalText([]byte("immediate")) // what flag.TextVar calls
	fmt.Println(p == drain.IdleImmediate, err, drain.IdlePolicy(0))
	// Output: true <nil> keepalive
}

// Behind a load balancer that polls readiness to choose its backends (not
// kube-proxy), readiness must fail from the first moment of the drain so
// that the lame duck moves traffic away; in Kubernetes the default keeps it
// passing until the listeners close.
func ExampleReadyPolicy() {
	d := drain.New(drain.Options{
		Delay: 10 * time.Second, // the balancer's health-check interval x threshold
		Ready: drain.ReadyUntilDrain,
	})
	mux := http.NewServeMux()
	mux.Handle("/readyz", d.Ready())
	// The same policy from a flag: -ready=through-delay.
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	var p drain.ReadyPolicy
	fs.TextVar(&p, "ready", drain.ReadyAuto, "when readiness fails in a drain")
	_ = fs.Parse([]string{"-ready=through-delay"})
	fmt.Println(p == drain.ReadyThroughDelay, drain.ReadyPolicy(0))
	// Output: true auto
}
