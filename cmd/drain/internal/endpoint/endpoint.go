// Package endpoint holds the one type the rollout (which produces endpoint
// lists), the network paths (which route to them) and the load client (which
// dials them) share, so that none of them imports another for it.
package endpoint

// Endpoint is one address a new connection may be dialed to.
type Endpoint struct {
	Addr    string // host:port
	Replica int32  // replica number, copied into each Result
}

// Target is where new connections go: it returns an endpoint from the
// client's current view of the endpoint list (the routing model: each new
// connection picks a ready endpoint; established connections stay pinned).
// ok is false when the list is empty. Pick must be safe for concurrent use.
type Target interface {
	Pick() (ep Endpoint, ok bool)
}
