package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// goClient sends POSTs with x/net/http2's Transport: -conns Transports (each
// keeps one connection, as one client process would), request i on
// Transport i%conns, a body without GetBody so that nothing can be re-sent.
func goClient(c config, url string) ([]string, error) {
	ts := make([]*http2.Transport, c.conns)
	for i := range ts {
		t := &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		if !c.tls {
			t.AllowHTTP = true
			t.DialTLSContext = func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}
		}
		ts[i] = t
	}
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	start := time.Now()
	interval := time.Second / time.Duration(c.rate)
	n := int(c.duration / interval)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for sent := 0; sent < n; {
		<-tick.C
		due := min(int(time.Since(start)/interval)+1, n)
		for ; sent < due; sent++ {
			wg.Add(1)
			go func(t *http2.Transport) {
				defer wg.Done()
				k := goRequest(t, url)
				mu.Lock()
				counts[k]++
				mu.Unlock()
			}(ts[sent%c.conns])
		}
	}
	wg.Wait()
	var lines []string
	for k, v := range counts {
		lines = append(lines, fmt.Sprintf("%s %d", k, v))
	}
	return lines, nil
}

func goRequest(t *http2.Transport, url string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", url, io.NopCloser(strings.NewReader("x")))
	req.ContentLength = 1
	resp, err := t.RoundTrip(req)
	if err != nil {
		return classify(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return classify(err)
	}
	if resp.StatusCode != 200 {
		return fmt.Sprintf("status_%d", resp.StatusCode)
	}
	return "ok"
}

func classify(err error) string {
	var se http2.StreamError
	var ga http2.GoAwayError
	switch {
	case errors.As(err, &se):
		return "stream_" + se.Code.String()
	case errors.As(err, &ga):
		return "goaway"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "refused"
	case strings.Contains(err.Error(), "reset"):
		return "reset"
	case strings.Contains(err.Error(), "EOF"):
		return "eof"
	case strings.Contains(err.Error(), "broken pipe"):
		return "broken_pipe"
	case strings.Contains(err.Error(), "cannot retry"):
		return "goaway_body_written" // x/net: a GOAWAY after the body was written, no GetBody
	}
	return "other:" + strings.ReplaceAll(err.Error(), " ", "_")
}
