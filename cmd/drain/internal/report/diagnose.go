package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/drainhttp/drain/cmd/drain/internal/load"
)

// Finding is one sentence of the diagnosis: what a group of lost requests
// had in common, the likely cause, and what fixes it.
type Finding struct {
	Rule  string // stable name of the rule, e.g. "refused-in-propagation"
	Count int    // requests it explains
	Text  string
}

// when says where a request's send time falls in its replica's life.
type when int

const (
	beforeSIGTERM when = iota // serving normally (or no SIGTERM)
	inPropagation             // SIGTERM sent, endpoint not yet removed
	afterRemoval              // endpoint removed, process not yet exited
	afterExit                 // process exited
)

func phaseAt(r Replica, t time.Duration) when {
	switch {
	case r.Exit != Never && t >= r.Exit:
		return afterExit
	case r.SIGTERM == Never || t < r.SIGTERM:
		return beforeSIGTERM
	case r.EndpointRemoved == Never || t < r.EndpointRemoved:
		return inPropagation
	default:
		return afterRemoval
	}
}

// Diagnose explains the lost requests of s in words, from their outcome
// classes and where their send times fall in the life of the replica they
// reached (SIGTERM, endpoint removal, exit). Each lost request is counted
// by the first rule that matches; a run with no loss gets one finding
// saying so. The order is that of the rules, so the output is
// deterministic.
func Diagnose(s Summary) []Finding {
	if s.Lost == 0 {
		return []Finding{{Rule: "lossless", Text: fmt.Sprintf("No request lost: all %d were answered.", s.Sent)}}
	}
	reps := make(map[int32]Replica, len(s.Replicas))
	for _, r := range s.Replicas {
		reps[r.Index] = r
	}
	type group struct {
		n        int
		outcomes map[load.Outcome]int
		replicas map[int32]bool
	}
	groups := map[string]*group{}
	add := func(rule string, p Point) {
		g := groups[rule]
		if g == nil {
			g = &group{outcomes: map[load.Outcome]int{}, replicas: map[int32]bool{}}
			groups[rule] = g
		}
		g.n++
		g.outcomes[p.Outcome]++
		if p.Replica >= 0 {
			g.replicas[p.Replica] = true
		}
	}
	inSpans := func(spans []Span, t time.Duration) bool {
		for _, sp := range spans {
			if t >= sp.From && (sp.To == Never || t < sp.To) {
				return true
			}
		}
		return false
	}
	for _, p := range s.Requests {
		if p.Outcome == load.OK {
			continue
		}
		if p.Outcome == load.Slow {
			add("slow", p) // answered: where it was sent says little about why it waited
			continue
		}
		r, known := reps[p.Replica]
		if p.Replica < 0 || !known {
			switch {
			case inSpans(s.NoEndpoint, p.Intended):
				add("no-endpoint", p)
			case p.Outcome == load.Status502 || p.Outcome == load.Status504:
				add("router-upstream", p)
			case p.Outcome == load.GoAway || p.Outcome == load.RefusedStream:
				add("h2-refused", p)
			default:
				add("other", p)
			}
			continue
		}
		ph := phaseAt(r, p.Intended)
		// Sent before SIGTERM but still running when it came: it failed
		// during the drain, not before it.
		if ph == beforeSIGTERM && r.SIGTERM != Never && p.Intended+p.Latency >= r.SIGTERM {
			ph = inPropagation
		}
		switch {
		case r.ExitedOnItsOwn() && p.Intended+p.Latency >= r.Exit:
			add("exited-on-its-own", p)
		case r.Killed && ph != beforeSIGTERM && p.Outcome != load.Refused:
			add("killed", p)
		case p.Outcome == load.Refused && ph == inPropagation:
			add("refused-in-propagation", p)
		case ph == afterExit && r.EndpointRemoved != Never && r.Exit < r.EndpointRemoved:
			add("exit-before-removal", p)
		case (p.Outcome == load.Reset || p.Outcome == load.EOF) && ph != beforeSIGTERM:
			add("closed-under-request", p)
		case p.Outcome == load.Status503 && ph != beforeSIGTERM:
			add("503-while-draining", p)
		case ph == beforeSIGTERM:
			add("before-sigterm", p)
		default:
			add("other", p)
		}
	}

	var out []Finding
	emit := func(rule string, text func(g *group) string) {
		if g := groups[rule]; g != nil {
			out = append(out, Finding{Rule: rule, Count: g.n, Text: text(g)})
		}
	}
	emit("refused-in-propagation", func(g *group) string {
		window := time.Duration(0)
		for idx := range g.replicas {
			r := reps[idx]
			window = max(window, r.EndpointRemoved-r.SIGTERM)
		}
		fix := window.Round(100*time.Millisecond) + 100*time.Millisecond
		return fmt.Sprintf("%d refused within the propagation window after SIGTERM (%s): the server closed its listener "+
			"while the load balancer (kube-proxy) still routed new connections to it; endpoint removal took up to %s here. "+
			"A lame duck of at least %s fixes it: keep accepting and serving after SIGTERM (the library's Options.Delay, "+
			"drain exec's --lame-duck, or a preStop sleep); in Kubernetes allow several seconds.",
			g.n, replicaList(g.replicas), roundMs(window), roundMs(fix))
	})
	emit("exit-before-removal", func(g *group) string {
		return fmt.Sprintf("%d lost (%s) after their replica exited but before its endpoint was removed (%s): the process "+
			"finished its drain faster than the endpoint removal propagated, so new connections found nothing listening. "+
			"Keep serving until the removal has propagated (a longer lame duck), not just until in-flight requests finish.",
			g.n, outcomeList(g.outcomes), replicaList(g.replicas))
	})
	emit("closed-under-request", func(g *group) string {
		return fmt.Sprintf("%d failed with %s on connections the server closed under them after SIGTERM (%s): it closed "+
			"keep-alive connections the client was reusing, or cut requests in flight when it exited. Answer every request "+
			"during the drain with \"Connection: close\", close an idle connection only after such a response or the "+
			"keep-alive timeout the client was told, and wait for in-flight requests before exiting.",
			g.n, outcomeList(g.outcomes), replicaList(g.replicas))
	})
	emit("exited-on-its-own", func(g *group) string {
		return fmt.Sprintf("%d lost (%s) on replicas that exited on their own, before any SIGTERM (%s): in flight when "+
			"the process died, or sent to it after. A crash, an OOM kill or a fatal error, not the drain: see the replica's "+
			"exit code or signal and its log (--log).", g.n, outcomeList(g.outcomes), replicaList(g.replicas))
	})
	emit("killed", func(g *group) string {
		return fmt.Sprintf("%d lost (%s) on replicas that were SIGKILLed after the grace period (%s): the drain took longer "+
			"than terminationGracePeriodSeconds. Raise the grace period above the lame duck plus the longest request, or "+
			"cancel slow work earlier (the library's Options.Deadline).",
			g.n, outcomeList(g.outcomes), replicaList(g.replicas))
	})
	emit("503-while-draining", func(g *group) string {
		return fmt.Sprintf("%d answered 503 after SIGTERM (%s): the server turned traffic away while draining. Only the "+
			"readiness probe should answer 503; requests that still arrive must be served.",
			g.n, replicaList(g.replicas))
	})
	emit("no-endpoint", func(g *group) string {
		return fmt.Sprintf("%d lost (%s) while the Service had no endpoint: every replica was terminating or not yet "+
			"ready. Keep a ready replica during the rollout (maxUnavailable 0, a rolling update) or let terminating "+
			"replicas serve until replacements are ready.", g.n, outcomeList(g.outcomes))
	})
	emit("router-upstream", func(g *group) string {
		return fmt.Sprintf("%d answered by the router itself (%s): it could not get a response from a replica "+
			"(502: the connection was refused, reset or closed under the request; 504: it timed out), typically a "+
			"replica that stopped accepting or closed a pooled keep-alive connection before the router's endpoint "+
			"update. A lame duck longer than the router's update delay, and a keep-alive timeout longer than the "+
			"router's upstream idle timeout, remove both causes (docs/platforms.md).", g.n, outcomeList(g.outcomes))
	})
	emit("h2-refused", func(g *group) string {
		return fmt.Sprintf("%d HTTP/2 streams left unprocessed (%s): the server sent GOAWAY or REFUSED_STREAM. "+
			"Both promise the request was not processed, so a client may retry it on a new connection; a server "+
			"draining well sends GOAWAY with the last stream it will serve and finishes those.", g.n, outcomeList(g.outcomes))
	})
	emit("slow", func(g *group) string {
		return fmt.Sprintf("%d answered, but later than the latency objective (--max-latency): requests held for seconds. "+
			"Behind a router this is typically the router waiting out its connect timeout (nginx: proxy_connect_timeout 5 s) "+
			"to a replica that stopped listening or exited before the router's endpoint update removed it, then retrying "+
			"elsewhere; without one, a server that stopped reading requests while draining. A lame duck longer than the "+
			"router's update delay removes it (docs/routers.md).", g.n)
	})
	emit("before-sigterm", func(g *group) string {
		return fmt.Sprintf("%d lost (%s) before their replica got SIGTERM (%s): not a shutdown problem (start-up, "+
			"overload or the server itself).", g.n, outcomeList(g.outcomes), replicaList(g.replicas))
	})
	emit("other", func(g *group) string {
		return fmt.Sprintf("%d lost (%s) that no rule explains.", g.n, outcomeList(g.outcomes))
	})
	return out
}

func roundMs(d time.Duration) string { return d.Round(time.Millisecond).String() }

// replicaList names replicas "r0, r2" in index order.
func replicaList(set map[int32]bool) string {
	idx := make([]int32, 0, len(set))
	for i := range set {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	names := make([]string, len(idx))
	for i, n := range idx {
		names[i] = fmt.Sprintf("r%d", n)
	}
	if len(names) == 0 {
		return "no replica"
	}
	return strings.Join(names, ", ")
}

// outcomeList formats counts by outcome in report order: "3 reset, 1 eof".
func outcomeList(m map[load.Outcome]int) string {
	var parts []string
	for _, o := range load.Outcomes() {
		if n := m[o]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, o))
		}
	}
	return strings.Join(parts, ", ")
}
