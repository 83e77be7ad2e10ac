package router

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/child"
	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

// The HAProxy Kubernetes Ingress Controller (haproxytech) applies what it
// has seen at each tick of --sync-period (5 s), through the runtime API.
const haproxySyncPeriod = 5 * time.Second

// haproxySlots is the controller's scale-server-slots default: servers are
// slots in the configuration whose address and state the runtime API sets.
const haproxySlots = 42

type haproxy struct {
	bin   string
	sock  string
	slots [haproxySlots]endpoint.Endpoint // Addr "" = free (maint)
}

func newHAProxy() (kind, error) {
	bin, err := lookPath("haproxy")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/haproxy"); serr != nil {
			return nil, notInstalled(HAProxy, "haproxy")
		}
		bin = "/usr/sbin/haproxy"
	}
	return &haproxy{bin: bin}, nil
}

func (h *haproxy) pacer(start time.Time) pacer { return ticking(start, haproxySyncPeriod) }

func (h *haproxy) start(dir string, port int, eps []endpoint.Endpoint) (child.Config, error) {
	if len(eps) > haproxySlots {
		return child.Config{}, fmt.Errorf("%d endpoints: the configuration has %d server slots", len(eps), haproxySlots)
	}
	h.sock = filepath.Join(dir, "runtime-api.sock")
	type slot struct {
		N    int
		Addr string
		On   bool
	}
	var slots []slot
	for i := range h.slots {
		s := slot{N: i + 1, Addr: "127.0.0.1:1"}
		if i < len(eps) {
			h.slots[i] = eps[i]
			s.Addr, s.On = eps[i].Addr, true
		}
		slots = append(slots, s)
	}
	var conf bytes.Buffer
	if err := haproxyConf.Execute(&conf, map[string]any{"Sock": h.sock, "Port": port, "Slots": slots}); err != nil {
		return child.Config{}, err
	}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, conf.Bytes(), 0o644); err != nil {
		return child.Config{}, err
	}
	return child.Config{Path: h.bin, Args: []string{h.bin, "-db", "-f", path}}, nil
}

// apply does what the controller's runtime update does: slots whose
// endpoint is gone are freed, new endpoints fill free slots (a slot freed
// in this sync is reused at once), then each changed slot gets its new
// address and state ready, or address 127.0.0.1 port 0 and state maint if
// it stays free.
func (h *haproxy) apply(ctx context.Context, eps []endpoint.Endpoint) error {
	keep := map[int32]bool{}
	for _, e := range eps {
		keep[e.Replica] = true
	}
	have := map[int32]bool{}
	var changed [haproxySlots]bool
	for i, s := range h.slots {
		switch {
		case s.Addr == "":
		case keep[s.Replica]:
			have[s.Replica] = true
		default:
			h.slots[i], changed[i] = endpoint.Endpoint{}, true
		}
	}
	for _, e := range eps {
		if have[e.Replica] {
			continue
		}
		i := 0
		for i < len(h.slots) && h.slots[i].Addr != "" {
			i++
		}
		if i == len(h.slots) {
			return fmt.Errorf("no free server slot for %s (%d slots)", e.Addr, haproxySlots)
		}
		h.slots[i], changed[i] = e, true
	}
	for i, s := range h.slots {
		if !changed[i] {
			continue
		}
		srv := fmt.Sprintf("drain/SRV_%d", i+1)
		host, port, state := "127.0.0.1", "0", "maint"
		if s.Addr != "" {
			var err error
			if host, port, err = net.SplitHostPort(s.Addr); err != nil {
				return err
			}
			state = "ready"
		}
		for _, c := range []string{
			fmt.Sprintf("set server %s addr %s port %s", srv, host, port),
			fmt.Sprintf("set server %s state %s", srv, state),
		} {
			if err := h.runtime(ctx, c); err != nil {
				return err
			}
		}
	}
	return nil
}

// runtime sends one command to the runtime API and checks its answer.
func (h *haproxy) runtime(ctx context.Context, cmd string) error {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "unix", h.sock)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return err
	}
	out, err := io.ReadAll(c)
	if err != nil {
		return err
	}
	// Success is silent or "IP changed from ..."; errors say so.
	ans := strings.TrimSpace(string(out))
	if ans != "" && !strings.HasPrefix(ans, "IP changed") && !strings.HasPrefix(ans, "no need to change") {
		return fmt.Errorf("runtime API %q: %s", cmd, ans)
	}
	return nil
}

// haproxyConf has the controller's defaults (pkg/haproxy/env/defaults.go
// of haproxytech/kubernetes-ingress) and HAProxy's own for the rest:
// retries 3 (connection failures only), http-reuse safe, no redispatch.
var haproxyConf = template.Must(template.New("haproxy").Parse(`# Written by drain test --router haproxy.
global
    stats socket {{.Sock}} level admin
    stats timeout 36s
    hard-stop-after 30m

defaults
    mode http
    option dontlognull
    option http-keep-alive
    timeout http-request 5s
    timeout connect 5s
    timeout queue 5s
    timeout client 50s
    timeout server 50s
    timeout tunnel 1h
    timeout http-keep-alive 60s

frontend http
    bind 127.0.0.1:{{.Port}}
    default_backend drain

backend drain
    balance roundrobin
{{- range .Slots}}
    server SRV_{{.N}} {{.Addr}}{{if not .On}} disabled{{end}}
{{- end}}
`))
