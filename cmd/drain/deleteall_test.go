package main

import "testing"

// TestDeleteAllReadiness models the real cluster's finding
// (docs/kubernetes.md, "Readiness during the lame duck: every pod deleted
// at once"): with every replica deleted at once and the replacements held
// unready for 2 s, a replica whose readiness fails from the first moment
// of its drain leaves kube-proxy's fallback to serving terminating
// endpoints, so connections are refused until a replacement is routable;
// one that stays ready through the 5 s lame duck (--pod-env, the default,
// sets KUBERNETES_SERVICE_HOST) keeps serving until then: 0 lost.
//
// The assertions follow the endpoint events, not the machine's speed: the
// first run has a span with no endpoint (the report's no_endpoint, from the
// rollout's events) and loses requests, every one refused; the second has
// no such span (the 5 s lame duck outlasts the 2 s ReadyDelay by 3 s) and
// loses none.
func TestDeleteAllReadiness(t *testing.T) {
	for _, tc := range []struct {
		ready string
		lose  bool
	}{
		{"until-drain", true},
		{"through-delay", false},
	} {
		t.Run(tc.ready, func(t *testing.T) {
			t.Parallel()
			args := []string{"test", "--json", "--quiet", "-1", "--allow-lost", "100000", "--rate", "300", "--conns", "8",
				"--warmup", "500ms", "--settle", "300ms", "--rollout", "delete-all", "--ready-delay", "2s",
				"--", drainBin, "hello", "--shutdown", "drain", "--ready", tc.ready}
			out, stderr, code := run(t, args...)
			if code != 0 {
				t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
			}
			s := parseSummary(t, out, stderr, code)
			t.Logf("--ready=%s: sent %d, lost %d %v", tc.ready, s.Sent, s.Lost, s.Outcomes)
			if len(s.Replicas) != 4 {
				t.Errorf("%d replicas in the report, want 2 old + 2 replacements", len(s.Replicas))
			}
			if !tc.lose {
				if s.Lost != 0 || len(s.NoEndpoint) != 0 {
					t.Errorf("--ready=%s lost %d of %d (%v), no-endpoint spans %v; want 0 and none: the old replicas should serve until the replacements are routable", tc.ready, s.Lost, s.Sent, s.Outcomes, s.NoEndpoint)
				}
				return
			}
			// No endpoint from the sync that applies the failed probes
			// (about 1 s after the deletion) to the one that adds the first
			// replacement (about 2.1 s): what the load sent then is refused.
			if len(s.NoEndpoint) == 0 {
				t.Errorf("--ready=%s: no span without an endpoint, want one from the failed probes to the first replacement", tc.ready)
			}
			if s.Outcomes["refused"] == 0 || s.Lost != s.Outcomes["refused"] {
				t.Errorf("--ready=%s lost %d of %d (%v), want some, all refused (no endpoint)", tc.ready, s.Lost, s.Sent, s.Outcomes)
			}
		})
	}
}
