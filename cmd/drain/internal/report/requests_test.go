package report

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
)

// oneLost is a run of 2000 OK requests over 4 s and a single refused one at
// 2 s, on two replicas.
func oneLost() Summary {
	s := Summary{
		Replicas: []Replica{
			{Index: 0, Ready: 0, SIGTERM: 1900 * time.Millisecond, EndpointRemoved: 2050 * time.Millisecond, Exit: 2600 * time.Millisecond},
			{Index: 1, Ready: 1500 * time.Millisecond, SIGTERM: Never, EndpointRemoved: Never, Exit: Never},
		},
		Outcomes: map[load.Outcome]int{},
	}
	for i := range 2000 {
		s.Requests = append(s.Requests, Point{Intended: time.Duration(i) * 2 * time.Millisecond, Latency: time.Millisecond, Outcome: load.OK, Replica: 0})
	}
	s.Requests = append(s.Requests, Point{Intended: 2 * time.Second, Latency: 200 * time.Microsecond, Outcome: load.Refused, Replica: 0})
	s.Sent, s.OK, s.Lost = 2001, 2000, 1
	s.Outcomes[load.OK], s.Outcomes[load.Refused] = 2000, 1
	return s
}

var lostTick = regexp.MustCompile(`<line x1="([0-9.]+)" y1="2" x2="[0-9.]+" y2="14" stroke="` + regexp.QuoteMeta(outcomeColors[load.Refused]) + `"`)

// TestRequestsOneLostVisible: a single lost request among 2000 gets its own
// tick above the plot, at its send time on the linear axis.
func TestRequestsOneLostVisible(t *testing.T) {
	svg := requestsSVG(oneLost(), 0)
	m := lostTick.FindAllStringSubmatch(svg, -1)
	if len(m) != 1 {
		t.Fatalf("%d lost ticks, want 1", len(m))
	}
	x, _ := strconv.ParseFloat(m[0][1], 64)
	// 2 s on a 0..4 s axis (RunEnd 4.0 s rounds to 4 s): the middle.
	want := rqLeft + float64(rqWidth-rqLeft-rqRight)*0.5
	if x < want-1 || x > want+1 {
		t.Errorf("lost tick at x=%.1f, want %.1f (2 s of 4 s)", x, want)
	}
	if n := strings.Count(svg, "<circle"); n != 2001 {
		t.Errorf("%d request dots, want 2001 (every request)", n)
	}
	for _, want := range []string{"r0 SIGTERM sent, endpoint still routed 1.900s – 2.050s", "r0 exit 2.600s", "r1 ready, serving 1.500s – 4.000s", "<polyline"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if svg != requestsSVG(oneLost(), 0) {
		t.Error("two renderings differ")
	}
}

// TestCompareSharedAxis: on a compare page, the same send time is at the
// same x in every row, however long each run was.
func TestCompareSharedAxis(t *testing.T) {
	short := oneLost()
	long := oneLost()
	long.Replicas[1].SIGTERM, long.Replicas[1].EndpointRemoved, long.Replicas[1].Exit = 7*time.Second, 7100*time.Millisecond, 8*time.Second
	var b bytes.Buffer
	rows := []Row{NewRow("short", "drain", short), NewRow("long", "drain", long)}
	if err := WriteCompareHTML(&b, "t", rows); err != nil {
		t.Fatal(err)
	}
	m := lostTick.FindAllStringSubmatch(b.String(), -1)
	if len(m) != 2 || m[0][1] != m[1][1] {
		t.Fatalf("lost ticks %v: want two at the same x", m)
	}
	x, _ := strconv.ParseFloat(m[0][1], 64)
	want := rqLeft + float64(rqWidth-rqLeft-rqRight)*2/8 // 2 s of the longest run's 8 s
	if x < want-1 || x > want+1 {
		t.Errorf("lost tick at x=%.1f, want %.1f", x, want)
	}
}
