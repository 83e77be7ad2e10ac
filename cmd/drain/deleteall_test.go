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
			args := []string{"test", "--json", "--allow-lost", "100000", "--rate", "300", "--conns", "8",
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
				if s.Lost != 0 {
					t.Errorf("--ready=%s lost %d of %d (%v), want 0: the old replicas should serve until the replacements are routable", tc.ready, s.Lost, s.Sent, s.Outcomes)
				}
				return
			}
			// Refused from the sync that applies the failed probes (about
			// 1 s after the deletion) to the one that adds the first
			// replacement (about 2.1 s): about a second of the load.
			if s.Outcomes["refused"] < 50 || s.Lost != s.Outcomes["refused"] {
				t.Errorf("--ready=%s lost %d of %d (%v), want about a second's worth, all refused (no endpoint)", tc.ready, s.Lost, s.Sent, s.Outcomes)
			}
		})
	}
}
