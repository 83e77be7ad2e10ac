package router

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/child"
	"github.com/drainhttp/drain/cmd/drain/internal/endpoint"
)

type caddy struct {
	bin   string
	admin string
}

func newCaddy() (kind, error) {
	bin, err := lookPath("caddy")
	if err != nil {
		return nil, notInstalled(Caddy, "caddy (in PATH or $(go env GOPATH)/bin)")
	}
	return &caddy{bin: bin}, nil
}

// The Caddy ingress controller pushes each change through the admin API
// as it sees it: no pacing of its own.
func (c *caddy) pacer(time.Time) pacer { return immediate }

type caddyUpstream struct {
	Dial string `json:"dial"`
}

func caddyUpstreams(eps []endpoint.Endpoint) []caddyUpstream {
	u := make([]caddyUpstream, 0, len(eps))
	for _, e := range eps {
		u = append(u, caddyUpstream{Dial: e.Addr})
	}
	return u
}

func (c *caddy) start(dir string, port int, eps []endpoint.Endpoint) (child.Config, error) {
	admin, err := freePort()
	if err != nil {
		return child.Config{}, err
	}
	c.admin = fmt.Sprintf("127.0.0.1:%d", admin)
	// reverse_proxy with Caddy's defaults: the HTTP transport's keep-alive
	// (idle 2 min, 32 idle conns per host), dial timeout 3 s, no retries
	// (lb_try_duration 0, lb_retries 0; Go's Transport still retries an
	// idempotent request whose reused connection failed), round-robin as
	// the ingress controller configures it.
	conf := map[string]any{
		"admin":   map[string]any{"listen": c.admin},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "WARN"}}},
		"storage": map[string]any{"module": "file_system", "root": filepath.Join(dir, "data")},
		"apps": map[string]any{"http": map[string]any{"servers": map[string]any{"drain": map[string]any{
			"listen":          []string{fmt.Sprintf("127.0.0.1:%d", port)},
			"automatic_https": map[string]any{"disable": true},
			"routes": []any{map[string]any{"handle": []any{map[string]any{
				"@id":            "drain_proxy",
				"handler":        "reverse_proxy",
				"load_balancing": map[string]any{"selection_policy": map[string]any{"policy": "round_robin"}},
				"upstreams":      caddyUpstreams(eps),
			}}}},
		}}}},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return child.Config{}, err
	}
	path := filepath.Join(dir, "caddy.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return child.Config{}, err
	}
	return child.Config{Path: c.bin, Args: []string{c.bin, "run", "--config", path},
		// Caddy writes its autosave and data under these: keep them in dir.
		Env: append(os.Environ(), "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir, "HOME="+dir)}, nil
}

// apply replaces the upstream list through the admin API, which reloads
// the configuration (Caddy applies every admin change as a new config).
func (c *caddy) apply(ctx context.Context, eps []endpoint.Endpoint) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, err := json.Marshal(caddyUpstreams(eps))
	if err != nil {
		return err
	}
	return adminCall(ctx, http.MethodPatch, "http://"+c.admin+"/id/drain_proxy/upstreams", "application/json", bytes.NewReader(b), http.StatusOK)
}
