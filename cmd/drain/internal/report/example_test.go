package report_test

import (
	"errors"
	"os"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
	"github.com/drainhttp/drain/cmd/drain/internal/report"
	"github.com/drainhttp/drain/cmd/drain/internal/rollout"
)

func ExampleSummarize() {
	ms := time.Millisecond
	results := []load.Result{
		{Intended: 0, Done: 2 * ms, Replica: 0, Status: 200, Outcome: load.OK, Kind: load.Steady, NewConn: true},
		{Intended: 100 * ms, Done: 103 * ms, Replica: 0, Status: 200, Outcome: load.OK, Kind: load.Idle},
		{Intended: 150 * ms, Done: 151 * ms, Replica: 0, Outcome: load.Reset, Kind: load.HalfSent, NewConn: true},
	}
	events := []rollout.Event{
		{At: 10 * ms, Replica: 0, Kind: rollout.Ready, Port: 8080},
		{At: 90 * ms, Replica: 0, Kind: rollout.SIGTERM, Port: 8080},
		{At: 190 * ms, Replica: 0, Kind: rollout.Exited, Port: 8080},
	}
	s := report.Summarize(report.Meta{Command: "drain test"}, results, events, nil)
	if err := report.WriteTable(os.Stdout, s); err != nil {
		panic(err)
	}
	// Output:
	// drain test
	//
	// sent  ok  lost  connections  reconnects
	// 3     2   1     1            0
	//
	// outcome         count
	// ok              2
	// refused         0
	// reset           1
	// eof             0
	// timeout         0
	// 503             0
	// 5xx             0
	// 502             0
	// 504             0
	// 4xx             0
	// status          0
	// goaway          0
	// refused_stream  0
	// unreachable     0
	// slow            0
	// other           0
	//
	// hard case                 survived
	// idle after SIGTERM        1/1
	// half-sent headers         0/1
	// slow body across SIGTERM  0/0
	// quiet, then again         0/0
	// steady load               1/1
	//
	// latency (answered)  p50  p90  p99  p99.9  max
	//                     2ms  3ms  3ms  3ms    3ms
	//
	// replica  port  ready   sigterm  removed  exit    drain   exit code  killed  sent  lost
	// 0        8080  0.010s  0.090s   -        0.190s  0.100s  0          no      3     1
	//
	// steady: 0 lost (before the rollout, until 0.090s)
	//
	// verdict: LOST 1 request
	// why (see the HTML report's request timeline):
	//   - 1 failed with 1 reset on connections the server closed under them after SIGTERM (r0): it closed keep-alive connections the client was reusing, or cut requests in flight when it exited. Answer every request during the drain with "Connection: close", close an idle connection only after such a response or the keep-alive timeout the client was told, and wait for in-flight requests before exiting.
}

func ExampleWriteCompareTable() {
	rows := []report.Row{
		report.NewRow("hello", "drain", report.Summarize(report.Meta{}, []load.Result{
			{Intended: 0, Done: time.Millisecond, Status: 200, Outcome: load.OK},
		}, nil, nil)),
		report.FailedRow("express", "server.close", errors.New("exit status 1")),
		{Server: "tomcat", Strategy: "graceful", Verdict: report.NotInstalled, Note: "no JDK"},
	}
	if err := report.WriteCompareTable(os.Stdout, rows); err != nil {
		panic(err)
	}
	// Output:
	// server   strategy      sent  lost  refused  reset  eof  503  slow  other  half-sent  idle  drain  killed  verdict
	// hello    drain         1     0     0        0      0    0    0     0      0/0        0/0   -      0       lossless
	// express  server.close  -     -     -        -      -    -    -     -      -          -     -      -       failed
	// tomcat   graceful      -     -     -        -      -    -    -     -      -          -     -      -       not-installed
	//
	// express (server.close): exit status 1
	// tomcat (graceful): no JDK
}
