package drain

import "fmt"

// A ReadyPolicy says when the readiness handler ([Drainer.Ready]) starts
// answering 503 during a drain. The zero value is [ReadyAuto].
//
// Who reads readiness decides which is right. In Kubernetes the endpoint
// of a pod being deleted stops being "ready" at once whatever its probe
// says, and kube-proxy stops routing new connections to it after its next
// sync; the probe only sets the endpoint's "serving" condition, which
// kube-proxy uses when no endpoint of the Service is ready at all (every
// replica deleted at once, a scale to zero and back): it then routes to
// terminating endpoints that are still serving (KEP-1669). A pod that
// answers 503 during the lame duck opts out of that fallback, and
// connections are refused until a new pod is ready. Measured on a real
// cluster (docs/kubernetes.md): deleting both pods with their replacements
// ready 3 s late lost 1135-1689 requests per run with ReadyUntilDrain, 0
// with ReadyThroughDelay; in rolling restarts both lost 0. A load balancer
// that polls readiness to choose its backends (outside Kubernetes, or one
// that health-checks pods directly) needs the 503 to stop sending.
type ReadyPolicy int32

const (
	// ReadyAuto, the default, is ReadyThroughDelay in Kubernetes (the
	// environment variable KUBERNETES_SERVICE_HOST is set, as for
	// [Options.Delay]) and ReadyUntilDrain elsewhere.
	ReadyAuto ReadyPolicy = iota

	// ReadyUntilDrain answers 503 from the first moment of the drain, so
	// that a load balancer polling readiness stops sending during the
	// lame duck.
	ReadyUntilDrain

	// ReadyThroughDelay answers 200 through the lame duck, while every
	// request is still served, and 503 from [PhaseClosing] on.
	ReadyThroughDelay
)

var readyNames = [...]string{"auto", "until-drain", "through-delay"}

// String returns the policy's name: "auto", "until-drain" or
// "through-delay".
func (p ReadyPolicy) String() string {
	if p >= 0 && int(p) < len(readyNames) {
		return readyNames[p]
	}
	return "unknown"
}

// MarshalText returns the policy's name (see String); it fails for a value
// that is not one of the constants. With UnmarshalText it makes the policy
// usable with flag.TextVar and text-based configuration decoders.
func (p ReadyPolicy) MarshalText() ([]byte, error) {
	if p < 0 || int(p) >= len(readyNames) {
		return nil, fmt.Errorf("drain: ReadyPolicy(%d) has no name", int32(p))
	}
	return []byte(readyNames[p]), nil
}

// UnmarshalText sets p from a name as String returns it: auto, until-drain or through-delay.
func (p *ReadyPolicy) UnmarshalText(text []byte) error {
	for i, n := range readyNames {
		if n == string(text) {
			*p = ReadyPolicy(i)
			return nil
		}
	}
	return fmt.Errorf("drain: unknown ready policy %q: use auto, until-drain or through-delay", text)
}
