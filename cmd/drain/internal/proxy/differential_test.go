package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDifferentialPaths sends the same bytes to drain exec's public side
// with the fast path in front (as drain exec runs) and with net/http alone
// (--fast-path=false): every input gets the same verdict, served the same
// way (the application sees the same request) or refused with the same
// status. The inputs: the fuzz seeds, the smuggling table and a few
// pipelined pairs.
func TestDifferentialPaths(t *testing.T) {
	up := rawEcho(t)
	slow, _, _, _ := frontWith(t, up, Config{}, nil)
	fast, _, _, _ := frontWith(t, up, Config{}, &FastConfig{ReadHeaderTimeout: 5 * time.Second})
	inputs := append([]string(nil), requestSeeds...)
	for _, v := range smuggling {
		inputs = append(inputs, v.req)
	}
	inputs = append(inputs,
		"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nabGET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-Host: evil\r\nForwarded: for=1\r\nProxy-Connection: keep-alive\r\n\r\n",
	)
	for _, in := range inputs {
		s, f := exchange(t, slow, in), exchange(t, fast, in)
		if s != f {
			t.Errorf("%q:\nnet/http: %s\nfast:     %s", in[:min(len(in), 120)], s, f)
		}
	}
}

// rawEcho is an application that answers each request with the request
// it received: its request line, its header lines sorted (the net/http
// path writes them from a map), its body. It parses nothing it need not,
// so the test sees exactly what each path sent on: a request that should
// have been refused shows up in the answer rather than being refused by
// the application's own parser.
func rawEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					var lines []string
					for {
						l, err := br.ReadString('\n')
						if err != nil {
							return
						}
						if l == "\r\n" {
							break
						}
						lines = append(lines, strings.TrimRight(l, "\r\n"))
					}
					if len(lines) == 0 {
						return
					}
					var body []byte
					n := 0
					chunked := false
					for _, l := range lines[1:] {
						k, v, _ := strings.Cut(l, ":")
						switch strings.ToLower(k) {
						case "content-length":
							n, _ = strconv.Atoi(strings.TrimSpace(v))
						case "transfer-encoding":
							chunked = true
						}
					}
					if chunked {
						for {
							l, err := br.ReadString('\n')
							if err != nil {
								return
							}
							body = append(body, l...)
							if l == "\r\n" && bytes.HasSuffix(body, []byte("0\r\n\r\n")) {
								break
							}
						}
					} else {
						body = make([]byte, n)
						if _, err := io.ReadFull(br, body); err != nil {
							return
						}
					}
					sort.Strings(lines[1:])
					echo := strings.Join(lines, "\n") + "\n\n" + string(body)
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(echo), echo)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// exchange sends raw on a new connection, followed by a request that
// closes it (a half-close would make net/http cancel the requests: it
// takes a client's EOF for a client gone), and returns the responses read
// (status and body each; after an error status nothing more is read).
func exchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw+"GET /end HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		return "write: " + err.Error()
	}
	br := bufio.NewReader(c)
	var out []string
	// The first response answers raw's first request: a HEAD has no body.
	first := &http.Request{Method: strings.Fields(raw + " ")[0]}
	for {
		res, err := http.ReadResponse(br, first)
		first = nil
		if err != nil {
			if len(out) == 0 {
				out = append(out, "no response")
			}
			break
		}
		if res.StatusCode >= 400 {
			// The verdict; net/http's own error texts are not part of
			// it, and it may reset the connection after them.
			out = append(out, fmt.Sprint(res.StatusCode))
			break
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			out = append(out, fmt.Sprintf("%d cut: %v", res.StatusCode, err))
			break
		}
		out = append(out, fmt.Sprintf("%d %q", res.StatusCode, b))
	}
	return strings.Join(out, " | ")
}
