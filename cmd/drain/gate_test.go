package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// closedURL is an http URL nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String() + "/"
	ln.Close()
	return u
}

// TestGateUsage: every bad flag value, output path and target is found
// before anything runs: exit 2, one clear line, and neither --during nor
// the COMMAND ran (each would have created its marker file).
func TestGateUsage(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	during := "touch " + marker
	cmd := []string{"--", "sh", "-c", "touch " + marker + "; exec " + drainBin + " hello --addr 127.0.0.1:$PORT"}
	hello, _ := startHello(t, "--shutdown", "drain")
	dead := closedURL(t)
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	tlsSrv.Config.ErrorLog = quietLog()
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	tlsURL := strings.Replace(tlsSrv.URL, "127.0.0.1", "localhost", 1) + "/"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"dead target", []string{"--target", dead, "--during", during}, "pre-flight request failed: GET / to " + strings.TrimSuffix(strings.TrimPrefix(dead, "http://"), "/") + ": dial tcp"},
		{"404 target", []string{"--target", notFound.URL + "/api", "--during", during}, "pre-flight request failed: GET /api to " + notFound.Listener.Addr().String() + ": status 404, expected 2xx"},
		{"401 header missing", []string{"--target", notFound.URL + "/", "--during", during, "--expect", "200"}, "status 404, expected 200"},
		{"untrusted certificate", []string{"--target", tlsURL, "--during", during}, "TLS handshake: tls: failed to verify certificate"},
		{"insecure on http", []string{"--target", hello, "--insecure", "--during", during}, "--insecure and --ca need an https:// target"},
		{"missing ca", []string{"--target", tlsURL, "--ca", filepath.Join(dir, "none.pem"), "--during", during}, "--ca: open"},
		{"ca not pem", []string{"--target", tlsURL, "--ca", "/dev/null", "--during", during}, "no PEM certificate"},
		{"bad header", []string{"--target", hello, "--header", "NoColon", "--during", during}, `header "NoColon": use Name:value`},
		{"host header", []string{"--target", hello, "--header", "Host: x", "--during", during}, "set the Host with --host"},
		{"bad method", []string{"--target", hello, "--method", "get", "--during", during}, `method "get"`},
		{"bad expect", []string{"--target", hello, "--expect", "6xx", "--during", during}, `--expect "6xx"`},
		{"user info", []string{"--target", "http://u:p@127.0.0.1:1/", "--during", during}, "no user info"},
		{"negative timeout", []string{"--target", hello, "--timeout", "-1s", "--during", during}, "--timeout -1s: need a duration > 0"},
		{"huge rate", []string{"--target", hello, "--rate", "1e9", "--during", during}, "--rate 1e+09: at most 100000"},
		{"negative allow-lost", []string{"--target", hello, "--allow-lost", "-1", "--during", during}, "--allow-lost -1: need a number of requests >= 0"},
		{"html named like a flag", []string{"--target", hello, "--html", "--", "--during", during}, `--html "--": looks like a flag`},
		{"results unwritable", []string{"--target", hello, "--results", filepath.Join(dir, "no", "such", "dir.jsonl"), "--during", during}, "--results: open"},
		{"kube rollout without target", append([]string{"--rollout", "deployment/api"}, cmd...), "--rollout deployment/api restarts a Kubernetes workload: it needs --target"},
		{"kube rollout kind", []string{"--target", hello, "--rollout", "pod/api"}, "kubectl rollout restarts deployments"},
		{"kube rollout and during", []string{"--target", hello, "--rollout", "deployment/api", "--during", during}, "--during and a Kubernetes --rollout exclude each other"},
		{"namespace alone", []string{"--target", hello, "-n", "prod", "--during", during}, "--namespace prod: only with --target and --rollout"},
		{"replicas: negative timeout", append([]string{"--timeout", "-1s"}, cmd...), "--timeout -1s"},
		{"replicas: huge rate", append([]string{"--rate", "1e9"}, cmd...), "--rate 1e+09"},
		{"replicas: html unwritable", append([]string{"--html", filepath.Join(dir, "no", "x.html")}, cmd...), "--html: open"},
		{"replicas: html --", append([]string{"--html", "--"}, cmd[1:]...), `--html "--": looks like a flag`},
		{"replicas: duration too short", append([]string{"--duration", "2s"}, cmd...), "--duration 2s ends before the rollout's last restart could be measured (at least 9s: --warmup 7s + 2 restarts x (--ready-delay 0s + --prestop 0s + --settle 1s))"},
		{"replicas: insecure", append([]string{"--insecure"}, cmd...), "--insecure and --ca need an https --target"},
		{"negative max-latency", append([]string{"--max-latency", "-1s"}, cmd...), "--max-latency -1s: need a duration >= 0"},
		{"bad protocol", append([]string{"--protocol", "h3"}, cmd...), `--protocol "h3": use h1, h2c or h2`},
		{"h2 without TLS", append([]string{"--protocol", "h2"}, cmd...), "protocol h2 needs TLS (an https target)"},
		{"h2c to https", []string{"--target", tlsURL, "--insecure", "--protocol", "h2c", "--during", during}, "protocol h2c is clear text"},
		{"h2 with the go client", append([]string{"--protocol", "h2c", "--client", "go"}, cmd...), "HTTP/2 is the raw client's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := run(t, append([]string{"test"}, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
				t.Errorf("stderr has %d lines, want one:\n%s", n+1, stderr)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Errorf("--during or the COMMAND ran before the error")
				os.Remove(marker)
			}
			if strings.Contains(tc.name, "html named") {
				if _, err := os.Stat("--"); err == nil {
					t.Errorf("a file named -- was written")
					os.Remove("--")
				}
			}
		})
	}
}

// TestGateRequestShape: --target's path and query, --host, --header and
// --method reach the service; a status outside --expect is lost by class.
func TestGateRequestShape(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[fmt.Sprintf("%s %s %s %s", r.Method, r.URL.RequestURI(), r.Host, r.Header.Get("Authorization"))]++
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer t" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	defer srv.Close()
	base := []string{"test", "--json", "--target", srv.URL + "/api/v1?q=1", "--duration", "300ms", "--rate", "100", "--idle", "-1", "--half-sent", "-1", "--slow-body", "-1"}
	out, stderr, code := run(t, append(base, "--host", "api.example", "--header", "Authorization: Bearer t", "--method", "GET,PUT")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
	mu.Lock()
	if seen["GET /api/v1?q=1 api.example Bearer t"] < 10 || seen["PUT /api/v1?q=1 api.example Bearer t"] < 10 || len(seen) != 2 {
		t.Errorf("service saw %v", seen)
	}
	mu.Unlock()
	// DELETE gets 403: lost as 4xx, the gate fails (the probe's GET passed).
	out, stderr, code = run(t, append(base, "--header", "Authorization: Bearer t", "--method", "GET,DELETE")...)
	var s summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if code != 1 || s.Outcomes["4xx"] < 10 || s.Outcomes["4xx"] != s.Lost {
		t.Errorf("exit %d, outcomes %v lost %d; want 1 and every DELETE lost as 4xx", code, s.Outcomes, s.Lost)
	}
	// 403 expected for DELETE too: passes.
	_, stderr, code = run(t, append(base, "--header", "Authorization: Bearer t", "--method", "GET,DELETE", "--expect", "2xx,403")...)
	if code != 0 {
		t.Errorf("with --expect 2xx,403: exit %d\n%s", code, stderr)
	}
}

// TestGateHTTPS: an https target checked against --ca (the server name
// from --host), and with --insecure.
func TestGateHTTPS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = quietLog()
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1) + "/"
	// --max-latency 0: this is about TLS (trust, server name), not speed;
	// under -race on a busy machine a handshake can take longer than the
	// default objective and its request would count as lost ("slow").
	base := []string{"test", "--json", "--target", url, "--duration", "300ms", "--rate", "100", "--max-latency", "0"}
	for _, extra := range [][]string{{"--ca", ca, "--host", "example.com"}, {"--insecure"}} {
		out, stderr, code := run(t, append(base, extra...)...)
		var s summary
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("%v: %v\n%s", extra, err, stderr)
		}
		if code != 0 || s.Sent < 30 || s.Lost != 0 {
			t.Errorf("%v: exit %d sent %d lost %d %v\n%s", extra, code, s.Sent, s.Lost, s.Outcomes, stderr)
		}
	}
	// The certificate is for example.com: localhost alone fails.
	_, stderr, code := run(t, append(base, "--ca", ca)...)
	if code != 2 || !strings.Contains(stderr, "not localhost") {
		t.Errorf("--ca without --host: exit %d %q", code, stderr)
	}
}

// TestGateDuringReturnsAtOnce: a --during that returns at once (a bare
// `kubectl rollout restart`) gets a warning that says why the run measured
// nothing, and so does a target where nothing changed.
func TestGateDuringReturnsAtOnce(t *testing.T) {
	url, _ := startHello(t, "--shutdown", "drain")
	_, stderr, code := run(t, "test", "--target", url, "--during", "echo restarted", "--rate", "100", "--warmup", "300ms", "--settle", "300ms")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{
		"restarted\n", // --during's output is shown, not discarded
		"drain: warning: --during returned after 0.0",
		"too soon for a rollout to have replaced anything",
		"kubectl rollout restart deployment/NAME && kubectl rollout status deployment/NAME",
		"drain: warning: no connection was closed, opened again or lost after --during started",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// quietLog drops the TLS handshake errors the tests provoke.
func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }

// TestGateKubeRollout: --rollout deployment/NAME -n NS drives kubectl
// (a stand-in here: no cluster) and reports the rollout's span; kubectl's
// output goes to stderr without --log.
func TestGateKubeRollout(t *testing.T) {
	dir := t.TempDir()
	script := `#!/bin/sh
echo "$*" >> "$FAKE/calls"
[ "$1" = "-n" ] && shift 2
case "$1 $2" in
"get deployment/api") printf '{"app":"api"}' ;;
"get pods") if [ -f "$FAKE/restarted" ]; then echo api-new; else echo api-old; fi ;;
"rollout restart") touch "$FAKE/restarted"; echo "deployment.apps/api restarted" ;;
"rollout status") echo 'deployment "api" successfully rolled out' ;;
*) exit 1 ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "kubectl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE", dir)
	url, _ := startHello(t, "--shutdown", "drain")
	_, stderr, code := run(t, "test", "--target", url, "--rollout", "deployment/api", "-n", "prod", "--rate", "100", "--warmup", "200ms", "--settle", "200ms")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"drain: kubectl -n prod rollout restart deployment/api", "deployment.apps/api restarted", "drain: --rollout deployment/api ran from"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "warning") {
		t.Errorf("a blocking rollout got a warning:\n%s", stderr)
	}
}

// TestInterrupted: Ctrl-C (SIGINT) mid-run prints a partial report marked
// interrupted and exits 130; the replicas drain's own cleanup stopped
// (killed: the run's context ends their processes) are not reported as
// killed.
func TestInterrupted(t *testing.T) {
	logf := filepath.Join(t.TempDir(), "log")
	cmd := osexec.Command(drainBin, "test", "--json", "--log", logf, "--rate", "50", "--timeout", "30s", "--warmup", "5s",
		"--", drainBin, "hello", "--shutdown", "drain", "--delay", "0.2")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Both replicas listening (the log is the event), then a request in
	// flight on each.
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(logf)
		if strings.Count(string(b), "listening on") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas never listened:\n%s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // some requests done, some in flight (0.2 s each)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var ee *osexec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit %v, want 130\n%s", err, stderr.String())
	}
	var s struct {
		Sent int `json:"sent"`
		Meta struct {
			Interrupted bool `json:"interrupted"`
		} `json:"meta"`
		Replicas []struct {
			Killed bool `json:"killed"`
		} `json:"replicas"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	if s.Sent == 0 {
		t.Errorf("the partial report has no requests")
	}
	if !s.Meta.Interrupted {
		t.Errorf("report not marked interrupted:\n%s", stdout.String())
	}
	for i, r := range s.Replicas {
		if r.Killed {
			t.Errorf("replica %d reported killed: drain's own cleanup killed it\n%s", i, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "drain: interrupted at") {
		t.Errorf("stderr lacks the interruption:\n%s", stderr.String())
	}
}

// TestHelloProtocols: drain hello serves h2c with prior knowledge, and
// with --tls HTTPS (h2 by ALPN) with a self-signed certificate that
// --tls-cert writes out for drain test --ca.
func TestHelloProtocols(t *testing.T) {
	url, _ := startHello(t, "--shutdown", "stdlib")
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	resp, err := (&http.Client{Transport: &http.Transport{Protocols: &h2c}}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Errorf("h2c: %s %d, want HTTP/2.0 200", resp.Proto, resp.StatusCode)
	}

	cert := filepath.Join(t.TempDir(), "cert.pem")
	url, _ = startHello(t, "--shutdown", "drain", "--tls", "--tls-cert", cert)
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("url %q", url)
	}
	out, stderr, code := run(t, "test", "--json", "--target", url, "--ca", cert, "--duration", "300ms", "--rate", "100")
	var s summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if code != 0 || s.Sent < 30 || s.Lost != 0 {
		t.Errorf("https with --ca: exit %d sent %d lost %d\n%s", code, s.Sent, s.Lost, stderr)
	}
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(cert)
	pool.AppendCertsFromPEM(b)
	resp, err = (&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("TLS: %s, want HTTP/2.0 by ALPN", resp.Proto)
	}
}

// TestH2cRollout: the steady load as HTTP/2 streams (h2c) through a
// rolling restart of drain hello: the drain mode loses nothing but, rarely,
// a stream its final GOAWAY left unprocessed (before the library's h2c
// fix, 0bc58a2/e14be18, 6-17 such streams here; after it 0, and 1 of 2883
// in one run on a machine busy with other suites: a stream whose HEADERS
// came later than the library's two-step margin), while the background's
// Go example (http.Server.Shutdown) loses requests of other classes.
func TestH2cRollout(t *testing.T) {
	for _, tc := range []struct {
		mode     string
		wantLost bool
	}{{"drain", false}, {"stdlib", true}} {
		// --max-latency 0: 16 streams at a time of a 50 ms server carry
		// at most 320 req/s; at 400 the client queues (testMode).
		out, stderr, code := run(t, "test", "--json", "--protocol", "h2c", "--quiet", "-1", "--max-latency", "0", "--rate", "400", "--conns", "16",
			"--warmup", "500ms", "--settle", "300ms", "--", drainBin, "hello", "--shutdown", tc.mode, "--delay", "0.05")
		var s summary
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("%s: %v\n%s", tc.mode, err, stderr)
		}
		other := s.Lost - s.Outcomes["goaway"]
		if s.Sent < 500 || (other > 0) != tc.wantLost || (code == 1) != (s.Lost > 0) || (!tc.wantLost && s.Outcomes["goaway"] > 2) {
			t.Errorf("--shutdown=%s over h2c: exit %d, sent %d lost %d %v; want lost (besides at most 2 goaway): %v", tc.mode, code, s.Sent, s.Lost, s.Outcomes, tc.wantLost)
		}
		t.Logf("--shutdown=%s over h2c: sent %d lost %d %v", tc.mode, s.Sent, s.Lost, s.Outcomes)
		if _, ok := s.Outcomes["goaway"]; !ok {
			t.Errorf("no goaway class in the report: %v", s.Outcomes)
		}
	}
}
