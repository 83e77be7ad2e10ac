// Package router runs a real L7 router in front of the replicas: nginx,
// HAProxy or Caddy, configured as its Kubernetes ingress controller
// configures it by default, with its upstream list changed the way that
// controller changes it and with its lag. The load client then dials the
// router instead of a replica: the router keeps its own keep-alive pool to
// the replicas, retries what it retries, and answers 502/503/504 itself.
//
// Life of a Router: New checks the router is installed; OnEvent follows
// the rollout's endpoint changes from the first one on (the initial
// replicas' too); Start launches the router once the initial replicas are
// ready, with their list in its configuration (like a controller starting
// with the Service's endpoints already there); later changes reach it
// through its controller's mechanism and pacing (see docs/routers.md);
// Close stops it. A Router is single-use.
package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/child"
	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
	"github.com/drainhttp/drain/cmd/drain/internal/rollout"
)

// The routers New knows.
const (
	Nginx   = "nginx"   // nginx + Lua balancer, as ingress-nginx runs it
	HAProxy = "haproxy" // HAProxy + runtime API, as the HAProxy Kubernetes Ingress Controller runs it
	Caddy   = "caddy"   // Caddy + admin API, as the Caddy ingress controller runs it
)

// Names lists the routers in a stable order.
func Names() []string { return []string{Nginx, HAProxy, Caddy} }

// ErrNotInstalled wraps New's error when the router's binary (or module)
// is missing; the message names the install script.
var ErrNotInstalled = errors.New("drain: router not installed")

// ErrUnknown wraps New's error for a name not in Names.
var ErrUnknown = errors.New("drain: unknown router")

// Options configure a Router. The zero value is valid.
type Options struct {
	// Log receives the router's own stdout and stderr (discarded if nil).
	Log io.Writer
	// ProbePath is fetched through the router by Start until it answers
	// 200 ("/health" if empty), so the load begins on a working path.
	ProbePath string
}

// kind is what differs between routers: how to start one with a list of
// upstreams, how its controller pushes a new list, and at which pace.
type kind interface {
	// start writes the configuration into dir and returns the command
	// (Path, Args, Env) that runs the router listening on port with eps as
	// its upstreams.
	start(dir string, port int, eps []endpoint.Endpoint) (child.Config, error)
	// apply pushes eps as the new upstream list the way the controller
	// does. Calls are sequential.
	apply(ctx context.Context, eps []endpoint.Endpoint) error
	// pacer returns the controller's pacing, its ticks (if any) counted
	// from start.
	pacer(start time.Time) pacer
}

// Router is one router process and its controller. Its methods are safe
// for concurrent use.
type Router struct {
	name string
	k    kind
	opts Options

	mu      sync.Mutex
	want    []endpoint.Endpoint // the rollout's current list
	pending time.Time           // when the oldest unapplied change came; zero: none
	err     error               // the first failed sync
	syncs   []Sync

	addr    string
	dir     string
	proc    *child.Process
	kick    chan struct{}
	stop    chan struct{}
	loop    sync.WaitGroup
	started time.Time
}

// Sync is one push of the upstream list to the router.
type Sync struct {
	At        time.Time // when the controller pushed it
	Endpoints []endpoint.Endpoint
	Err       error
}

// New returns a Router of the named kind, not yet started. It fails with
// ErrUnknown or ErrNotInstalled before anything runs.
func New(name string, opts Options) (*Router, error) {
	if opts.ProbePath == "" {
		opts.ProbePath = rollout.DefaultReadyPath
	}
	var k kind
	var err error
	switch name {
	case Nginx:
		k, err = newNginx()
	case HAProxy:
		k, err = newHAProxy()
	case Caddy:
		k, err = newCaddy()
	default:
		return nil, fmt.Errorf("%w %q: use one of %v", ErrUnknown, name, Names())
	}
	if err != nil {
		return nil, err
	}
	return &Router{name: name, k: k, opts: opts, kick: make(chan struct{}, 1), stop: make(chan struct{})}, nil
}

// notInstalled is the error for a missing piece of router name.
func notInstalled(name, what string) error {
	return fmt.Errorf("%w: %s: %s not found; install it with routers/%s/install (as root)", ErrNotInstalled, name, what, name)
}

// Name returns the router's name.
func (r *Router) Name() string { return r.name }

// OnEvent follows the rollout's endpoint list: an EndpointAdded puts the
// replica's address in the list, an EndpointRemoved takes it out; the
// router sees the change at its controller's next sync. It returns at once
// (a rollout.Plan.OnEvent).
func (r *Router) OnEvent(ev rollout.Event) {
	switch ev.Kind {
	case rollout.EndpointAdded:
		r.change(func(l []endpoint.Endpoint) []endpoint.Endpoint {
			return append(l, endpoint.Endpoint{Addr: fmt.Sprintf("127.0.0.1:%d", ev.Port), Replica: ev.Replica})
		})
	case rollout.EndpointRemoved:
		r.change(func(l []endpoint.Endpoint) []endpoint.Endpoint {
			return slices.DeleteFunc(l, func(e endpoint.Endpoint) bool { return e.Replica == ev.Replica })
		})
	}
}

func (r *Router) change(fn func([]endpoint.Endpoint) []endpoint.Endpoint) {
	r.mu.Lock()
	r.want = fn(slices.Clone(r.want))
	if r.pending.IsZero() {
		r.pending = time.Now()
	}
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Pick returns the router's address: every connection of the load goes to
// it. Replica is -1: which replica serves is the router's choice.
func (r *Router) Pick() (endpoint.Endpoint, bool) {
	return endpoint.Endpoint{Addr: r.addr, Replica: -1}, r.addr != ""
}

var _ endpoint.Target = (*Router)(nil)

// Addr returns the address the router listens on (empty before Start).
func (r *Router) Addr() string { return r.addr }

// Start runs the router on a free loopback port with the current list as
// its upstreams, waits until a GET of ProbePath through it answers 200,
// and starts its controller's sync loop. A port drain picks is free when
// picked, not reserved: another process may bind it before the router
// does. When the router exits at start saying an address is in use, Start
// starts it again with fresh ports, startTries times in all. Call Close
// afterwards, also when Start fails.
func (r *Router) Start(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "drain-router-"+r.name+"-")
	if err != nil {
		return err
	}
	r.dir = dir
	r.mu.Lock()
	eps := slices.Clone(r.want)
	r.pending = time.Time{}
	r.mu.Unlock()
	for try := 1; ; try++ {
		err = r.launch(ctx, eps)
		var taken portTaken
		if !errors.As(err, &taken) {
			break
		}
		if try == startTries {
			return fmt.Errorf("router %s exited at start %d times in a row: each time a port drain had picked for it was taken before it could bind it (the last time port %d: %q); its log is in --log", r.name, startTries, taken.port, taken.line)
		}
		if r.opts.Log != nil {
			fmt.Fprintf(r.opts.Log, "drain: router %s: port %d was taken before it could bind it (%q); starting it again on another\n", r.name, taken.port, taken.line)
		}
	}
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.syncs = append(r.syncs, Sync{At: r.started, Endpoints: eps})
	r.mu.Unlock()
	r.loop.Add(1)
	go r.syncLoop(r.k.pacer(r.started))
	return nil
}

// startTries bounds Start's attempts when the router's port is taken.
const startTries = 3

// portTaken is launch's error for a router that exited at start because
// an address drain picked for it was in use.
type portTaken struct {
	port int    // the router's port
	line string // what the router said
}

func (e portTaken) Error() string {
	return fmt.Sprintf("port %d taken: %s", e.port, e.line)
}

// launch starts the router once on fresh ports and waits until it serves.
func (r *Router) launch(ctx context.Context, eps []endpoint.Endpoint) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	cfg, err := r.k.start(r.dir, port, eps)
	if err != nil {
		return fmt.Errorf("router %s: %w", r.name, err)
	}
	// Through child, as every process drain starts: its own process
	// group, so Close can end nginx's and HAProxy's workers too, and what
	// is left of the group ends when the master does; Pdeathsig ends it
	// with drain. Its output goes to Log and to a tail for the error.
	tail := new(child.Tail)
	out := io.Writer(tail)
	if r.opts.Log != nil {
		out = io.MultiWriter(r.opts.Log, tail)
	}
	cfg.Stdout, cfg.Stderr = out, out
	cfg.KillGroupAtExit = true
	proc, err := child.Start(cfg)
	if err != nil {
		return fmt.Errorf("router %s: %w", r.name, err)
	}
	r.proc = proc
	r.addr = fmt.Sprintf("127.0.0.1:%d", port)
	r.started = time.Now()
	err = r.probe(ctx)
	select {
	case <-proc.Done(): // the tail is complete
		if line := addrInUse(tail.String()); err != nil && line != "" {
			return portTaken{port: port, line: line}
		}
	default:
	}
	return err
}

// addrInUse returns the last line of a router's output that says an
// address is in use (EADDRINUSE: nginx "(98: Address already in use)",
// HAProxy "cannot bind socket (Address already in use)", Caddy "bind:
// address already in use"), or "".
func addrInUse(out string) string {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(strings.ToLower(lines[i]), "address already in use") {
			return strings.TrimSpace(lines[i])
		}
	}
	return ""
}

// probe waits until a GET of ProbePath through the router answers 200.
func (r *Router) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	url := "http://" + r.addr + r.opts.ProbePath
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		last = err
		select {
		case <-r.proc.Done():
			return fmt.Errorf("router %s exited at start (%v); its log is in --log", r.name, r.proc.Wait())
		case <-ctx.Done():
			return fmt.Errorf("router %s not serving after 15 s: %v", r.name, last)
		case <-tick.C:
		}
	}
}

// syncLoop applies the pending changes at the moments pace gives.
func (r *Router) syncLoop(pace pacer) {
	defer r.loop.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-r.stop:
		case <-ctx.Done():
		}
		cancel()
	}()
	last := r.started
	timer := time.NewTimer(0)
	<-timer.C
	for {
		r.mu.Lock()
		pending := r.pending
		r.mu.Unlock()
		if pending.IsZero() {
			select {
			case <-r.kick:
				continue
			case <-r.stop:
				return
			}
		}
		if d := time.Until(pace(pending, last)); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-r.stop:
				timer.Stop()
				return
			}
		}
		r.mu.Lock()
		eps := slices.Clone(r.want)
		r.pending = time.Time{}
		r.mu.Unlock()
		last = time.Now()
		err := r.k.apply(ctx, eps)
		if err != nil && ctx.Err() == nil {
			err = fmt.Errorf("router %s: endpoint update: %w", r.name, err)
		} else if err != nil {
			err = nil // stopping
		}
		if r.opts.Log != nil {
			fmt.Fprintf(r.opts.Log, "drain: router %s: +%.3fs pushed %d endpoints %v (%v)\n", r.name, time.Since(r.started).Seconds(), len(eps), eps, err)
		}
		r.mu.Lock()
		r.syncs = append(r.syncs, Sync{At: last, Endpoints: eps, Err: err})
		if err != nil && r.err == nil {
			r.err = err
		}
		r.mu.Unlock()
	}
}

// Syncs returns every push of the upstream list so far, the initial
// configuration first.
func (r *Router) Syncs() []Sync {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.syncs)
}

// Err returns the first failed endpoint update, or nil.
func (r *Router) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Close stops the controller and the router (SIGTERM, SIGKILL to its
// process group after 5 s) and removes its files. It returns Err. Safe to
// call once, after New.
func (r *Router) Close() error {
	close(r.stop)
	r.loop.Wait()
	if r.proc != nil {
		r.proc.SignalGroup(syscall.SIGTERM)
		select {
		case <-r.proc.Done():
		case <-time.After(5 * time.Second):
			// A router that ignored SIGTERM (workers of a master that is
			// gone were killed when it exited).
			r.proc.KillGroup()
			<-r.proc.Done()
		}
	}
	if r.dir != "" {
		os.RemoveAll(r.dir)
	}
	return r.Err()
}

// freePort returns a loopback port free at the moment (a variable: tests
// hand out a taken one).
var freePort = func() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lookPath finds a binary in PATH or, for those go install puts there, in
// $(go env GOPATH)/bin and ~/go/bin.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	var dirs []string
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, gp+"/bin")
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, home+"/go/bin")
	}
	for _, d := range dirs {
		p := d + "/" + name
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// adminCall sends one request to a router's own control API (Caddy's admin
// API, the nginx Lua endpoint) and wants status want back; the error names
// the call and the router's answer.
func adminCall(ctx context.Context, method, url, contentType string, body io.Reader, want int) error {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s %s", method, req.URL.Path, resp.Status, msg)
	}
	return nil
}
