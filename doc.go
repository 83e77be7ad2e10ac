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
// [Options.Delay], while the endpoint removal reaches every load balancer.
// The README's guarantee section says what holds for HTTP/2, and in steady
// state.
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
//	         │ "Connection: close"          │ half-received: never cut    │
//	         │                              │ Deadline: contexts cancelled│
//	         │                              │ +ForceAfter: all closed     │
//
// The drain begins at the first of: a signal from [Options.Signals], the
// cancellation of Run's context, a [Drainer.Stop] call, a serve error.
// Forcing it (every connection closed at once) takes a second deliberate
// request: a second signal, or a second Stop call.
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
