// Package drain serves [net/http] servers and shuts them down without losing
// a request during a rolling restart.
//
// # Use
//
//	d := drain.New(drain.Options{})     // the zero Options are the lossless defaults
//	mux.Handle("/readyz", d.Ready())     // the readiness probe's path
//	d.Add(&http.Server{Addr: ":8080", Handler: mux}, nil)
//	if err := d.Run(context.Background()); err != nil { // serves; on SIGTERM/SIGINT drains
//		log.Print(err)
//	}
//
// Any framework that gives an [http.Handler] (gin, chi, echo) works the same
// way. [Drainer.Run] is one blocking call and [Drainer.Stop] its idempotent
// trigger, so a Drainer fits oklog/run's Group and errgroup as they are.
//
// # The guarantee
//
// From the moment the drain begins, a request the server has received any
// byte of is answered, and a request the client sends on a connection the
// server has not told it to stop using is answered: the drain closes an
// HTTP/1.1 connection only after a response that carried
// "Connection: close", after the client closed it, when the idle policy
// ([Options.Idle]) says the client has been told it may be closed (see
// [IdlePolicy]), or when [Options.Deadline] plus [Options.ForceAfter] have
// passed. New connections keep being accepted and served for
// [Options.Delay], while the endpoint removal reaches every load balancer;
// when the listeners close, the connections already waiting in the kernel's
// accept queue are accepted and served first (Linux), not reset.
// The README's guarantee section says what holds for HTTP/2, and in steady
// state.
//
// In steady state (no drain) the library adds no close of its own: it
// advertises "Keep-Alive: timeout=N" but leaves http.Server.IdleTimeout as
// the caller set it, so a server behind it loses no request that the same
// http.Server without it would not lose, whatever the client.
//
// Out of scope: requests that a load balancer sends after the listeners
// closed (make Delay longer than its propagation), handlers that ignore
// their context past the deadline, and work outside the servers unless it
// takes a [Drainer.Hold].
//
// # Phases
//
// A drain moves through the phases of [Phase], in order:
//
//	SIGTERM ─┬─ lame duck (Delay) ──────────┬─ closing ───────────────────┬─ cleanup ─ Run returns
//	         │ readiness 503 (200 in a pod) │ listeners closed            │ OnShutdown steps,
//	         │ accepting and serving;       │ in-flight requests finish   │ reverse order
//	         │ HTTP/1.1 responses carry     │ idle conns: closed by policy│
//	         │ "Connection: close"; HTTP/2  │ half-received: never cut    │
//	         │ served, no GOAWAY            │ h2c: two-step GOAWAY        │
//	         │                              │ Deadline: contexts cancelled│
//	         │                              │ +ForceAfter: all closed     │
//
// The drain begins at the first of: a signal from [Options.Signals], the
// cancellation of Run's context, a [Drainer.Stop] call, a serve error.
// Forcing it (every connection closed at once) takes a second deliberate
// request: a second signal, or a second Stop call.
//
// # Closing idle connections: the odds per client
//
// Closing an idle HTTP/1.1 connection races any request the client has just
// put on the wire. If the client sends on it at rate λ and the one-way
// latency is d, a close at a moment unrelated to the client's sending loses
// a request with probability about 1 − e^(−2λd) ≈ 2λd. Only two closes
// cannot race: one announced in a response ("Connection: close") and one
// the client starts. So the library never closes idle connections while
// serving, and during a drain [IdleKeepAlive] closes each idle connection
// once, after N of idleness (N = [Options.KeepAlive]):
//
//   - Clients that honour the Keep-Alive hint (Node.js's http.Agent, among
//     others) retire a connection before it has been idle for N: the drain's
//     close at N finds it gone, or races nothing. Loss probability 0.
//   - Clients that ignore the hint (Go's http.Transport, golang/go#15508;
//     urllib3, curl, OkHttp, .NET): a busy connection closes at its next
//     response (one more message, no race); a quiet one is closed once per
//     drain, so a drain costs each such connection about 2λd, e.g. 0.2 % for
//     a client polling every 5 s over 5 ms. An idle timeout enforced while
//     serving would cost that at every idle period, all day: 32 Go clients
//     posting every 4.9-5.6 s over 5 ms lost 9 of 540 requests in 90 s with
//     no restart when the library enforced a 5 s idle timeout, 0 of 550
//     without it (plain net/http: 0 of 545).
//   - L7 routers in front of pods (ingress-nginx and AWS ALB keep upstream
//     connections idle for 60 s, Traefik 90 s, Google's load balancer
//     600 s) ignore the hint too, and their vendors require backends to
//     keep idle connections open longer than the router does: hence no
//     steady-state timeout. During a drain the router stops choosing the
//     pod once the endpoint removal has reached it, within [Options.Delay];
//     the idle closes come after the Delay (never before the listeners
//     close), when the router no longer sends: the race needs a router
//     that still routes to the pod after the lame duck.
//
// [IdleOneMore] removes the remaining race for quiet hint-ignoring clients
// at the cost of drains as long as the deadline.
//
// # Kubernetes
//
// With the defaults, in a pod (KUBERNETES_SERVICE_HOST set):
//
//   - no preStop hook: the 5 s lame duck ([DefaultKubernetesDelay]) does
//     what a preStop sleep does;
//   - readinessProbe: httpGet on the path of [Drainer.Ready],
//     periodSeconds: 1. It passes through the lame duck and fails once the
//     listeners close ([ReadyThroughDelay]);
//   - terminationGracePeriodSeconds: 30 (the default): a drain ends by
//     [DefaultDeadline] + [DefaultForceAfter] = 25 s;
//   - livenessProbe: [Drainer.Live] or a TCP check; it stays 200 while
//     draining.
package drain
