package load

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// The JSON-lines form of []Result: one object per line, times as integer
// nanoseconds from the start of the run, outcome and kind by name:
//
//	{"seq":0,"intended_ns":0,"sent_ns":41000,"done_ns":390000,"conn":1,"replica":0,"status":200,"outcome":"ok","kind":"steady","post":false,"new_conn":true,"conn_close":false}

// MarshalText returns the outcome's name ([Outcome.String]).
func (o Outcome) MarshalText() ([]byte, error) {
	if o >= numOutcomes {
		return nil, fmt.Errorf("load: unknown outcome %d", uint8(o))
	}
	return []byte(o.String()), nil
}

// UnmarshalText parses an outcome's name.
func (o *Outcome) UnmarshalText(b []byte) error {
	v, ok := ParseOutcome(string(b))
	if !ok {
		return fmt.Errorf("load: unknown outcome %q", b)
	}
	*o = v
	return nil
}

// ParseKind is the inverse of [Kind.String].
func ParseKind(s string) (Kind, bool) {
	for i, n := range kindNames {
		if n == s {
			return Kind(i), true
		}
	}
	return 0, false
}

// MarshalText returns the kind's name ([Kind.String]).
func (k Kind) MarshalText() ([]byte, error) {
	if k >= numKinds {
		return nil, fmt.Errorf("load: unknown kind %d", uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText parses a kind's name.
func (k *Kind) UnmarshalText(b []byte) error {
	v, ok := ParseKind(string(b))
	if !ok {
		return fmt.Errorf("load: unknown kind %q", b)
	}
	*k = v
	return nil
}

// jsonResult is the wire form of a Result.
type jsonResult struct {
	Seq       uint64  `json:"seq"`
	Intended  int64   `json:"intended_ns"`
	Sent      int64   `json:"sent_ns"`
	Done      int64   `json:"done_ns"`
	Conn      uint32  `json:"conn"`
	Replica   int32   `json:"replica"`
	Status    uint16  `json:"status"`
	Outcome   Outcome `json:"outcome"`
	Kind      Kind    `json:"kind"`
	Post      bool    `json:"post"`
	NewConn   bool    `json:"new_conn"`
	ConnClose bool    `json:"conn_close"`
}

// WriteJSONL writes rs as JSON lines, one Result per line. It returns the
// first error of w (it never swallows one) or of an unknown outcome or kind.
func WriteJSONL(w io.Writer, rs []Result) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	b := make([]byte, 0, 256)
	for i := range rs {
		r := &rs[i]
		if r.Outcome >= numOutcomes || r.Kind >= numKinds {
			return fmt.Errorf("load: result %d: unknown outcome %d or kind %d", i, r.Outcome, r.Kind)
		}
		b = append(b[:0], `{"seq":`...)
		b = strconv.AppendUint(b, r.Seq, 10)
		b = append(b, `,"intended_ns":`...)
		b = strconv.AppendInt(b, int64(r.Intended), 10)
		b = append(b, `,"sent_ns":`...)
		b = strconv.AppendInt(b, int64(r.Sent), 10)
		b = append(b, `,"done_ns":`...)
		b = strconv.AppendInt(b, int64(r.Done), 10)
		b = append(b, `,"conn":`...)
		b = strconv.AppendUint(b, uint64(r.Conn), 10)
		b = append(b, `,"replica":`...)
		b = strconv.AppendInt(b, int64(r.Replica), 10)
		b = append(b, `,"status":`...)
		b = strconv.AppendUint(b, uint64(r.Status), 10)
		b = append(b, `,"outcome":"`...)
		b = append(b, r.Outcome.String()...)
		b = append(b, `","kind":"`...)
		b = append(b, r.Kind.String()...)
		b = append(b, `","post":`...)
		b = strconv.AppendBool(b, r.Post)
		b = append(b, `,"new_conn":`...)
		b = strconv.AppendBool(b, r.NewConn)
		b = append(b, `,"conn_close":`...)
		b = strconv.AppendBool(b, r.ConnClose)
		b = append(b, "}\n"...)
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ReadJSONL reads the JSON lines WriteJSONL writes (blank lines are
// skipped; unknown fields are ignored; a missing field is zero).
func ReadJSONL(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(trimSpace(b)) == 0 {
			continue
		}
		var j jsonResult
		if err := json.Unmarshal(b, &j); err != nil {
			return out, fmt.Errorf("load: line %d: %w", line, err)
		}
		out = append(out, Result{
			Seq: j.Seq, Intended: time.Duration(j.Intended), Sent: time.Duration(j.Sent),
			Done: time.Duration(j.Done), Conn: j.Conn, Replica: j.Replica, Status: j.Status,
			Outcome: j.Outcome, Kind: j.Kind, Post: j.Post, NewConn: j.NewConn, ConnClose: j.ConnClose,
		})
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("load: line %d: %w", line+1, err)
	}
	return out, nil
}
