package main

import (
	"encoding/json"
	"testing"
)

// TestExecExpressLosesNothing: Express + terminus loses requests on its own
// (TestCompareDefaultAndExpressTerminus); behind drain exec, rolled by drain
// test with the same load and hard cases, it loses none.
func TestExecExpressLosesNothing(t *testing.T) {
	needPeer(t, "express-terminus")
	out, stderr, code := run(t, "test", "--json", "--quiet", "-1", "--rate", "300", "--warmup", "500ms", "--settle", "300ms",
		"--", drainBin, "exec", "-q", "--listen", "127.0.0.1:{port}", "--", "../../peers/express-terminus/run")
	var s summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("exit %d, no JSON report: %v\n%s\n%s", code, err, out, stderr)
	}
	if code != 0 || s.Lost != 0 {
		t.Errorf("express-terminus behind drain exec: exit %d, lost %d %v", code, s.Lost, s.Outcomes)
	}
	for _, k := range []string{"idle", "halfsent", "slowbody"} {
		if ks := s.Kinds[k]; ks.Sent == 0 || ks.Survived != ks.Sent {
			t.Errorf("hard case %s: %+v", k, ks)
		}
	}
	for i, r := range s.Replicas {
		if r.Killed {
			t.Errorf("replica %d killed", i)
		}
	}
}
