package child

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// DefaultProbeTimeout bounds one readiness check (kubelet's timeoutSeconds
// default).
const DefaultProbeTimeout = time.Second

// Probe is a readiness check, Kubernetes-style: an HTTP GET of a path
// answered with a status [Ready] accepts, or a TCP connect. Every check is
// a new connection (no keep-alive, no proxy, redirects not followed), so
// none stays open. A Probe is safe for concurrent use.
type Probe struct {
	path    string
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	timeout time.Duration
	client  *http.Client
}

// NewProbe returns a probe of path ("": a TCP connect) whose connections
// dial opens (nil: a net.Dialer's), each check bounded by timeout (0:
// DefaultProbeTimeout).
func NewProbe(path string, dial func(ctx context.Context, network, addr string) (net.Conn, error), timeout time.Duration) *Probe {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	if timeout <= 0 {
		timeout = DefaultProbeTimeout
	}
	return &Probe{path: path, dial: dial, timeout: timeout, client: &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: dial},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// Check runs the probe once against addr: nil when ready, else what it saw.
func (p *Probe) Check(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if p.path == "" {
		c, err := p.dial(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+p.path, nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if !Ready(resp.StatusCode) {
		return fmt.Errorf("GET %s: %s", p.path, resp.Status)
	}
	return nil
}
