package load

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestJSONLRoundTrip(t *testing.T) {
	rs := []Result{
		{Seq: 0, Intended: 0, Sent: 41 * time.Microsecond, Done: 390 * time.Microsecond, Conn: 1, Replica: 0, Status: 200, Outcome: OK, Kind: Steady, NewConn: true},
		{Seq: 1 << 40, Intended: time.Hour, Sent: time.Hour, Done: time.Hour + 1, Conn: 1<<32 - 1, Replica: -1, Outcome: Refused, Kind: Idle},
		{Seq: 2, Status: 503, Outcome: Status503, Kind: HalfSent, Post: true, ConnClose: true},
		{Seq: 3, Intended: -time.Second, Outcome: Other, Kind: SlowBody},
	}
	for _, o := range Outcomes() {
		rs = append(rs, Result{Seq: 10 + uint64(o), Outcome: o})
	}
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, rs); err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(buf.String(), "\n")
	const want = `{"seq":0,"intended_ns":0,"sent_ns":41000,"done_ns":390000,"conn":1,"replica":0,"status":200,"outcome":"ok","kind":"steady","post":false,"new_conn":true,"conn_close":false}`
	if first != want {
		t.Errorf("first line\n%s\nwant\n%s", first, want)
	}
	got, err := ReadJSONL(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rs, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestJSONLErrors(t *testing.T) {
	if err := WriteJSONL(&bytes.Buffer{}, []Result{{Outcome: numOutcomes}}); err == nil {
		t.Error("unknown outcome written")
	}
	wantErr := errors.New("disk full")
	if err := WriteJSONL(failWriter{wantErr}, make([]Result, 10)); !errors.Is(err, wantErr) {
		t.Errorf("writer error: got %v", err)
	}
	for _, in := range []string{
		`{"seq":1,"outcome":"lost"}`,
		`{"seq":1,"kind":"burst"}`,
		`{"seq":`,
	} {
		if _, err := ReadJSONL(strings.NewReader(in + "\n")); err == nil {
			t.Errorf("ReadJSONL(%s) accepted", in)
		}
	}
	rs, err := ReadJSONL(strings.NewReader("\n{\"seq\":5,\"extra\":1}\n\n"))
	if err != nil || len(rs) != 1 || rs[0].Seq != 5 {
		t.Errorf("blank lines and unknown fields: %+v, %v", rs, err)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }
