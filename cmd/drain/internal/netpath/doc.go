// Package netpath is the kernel network path of `drain test
// --network=kernel`: the replicas and the load client meet in a network
// namespace of their own, through a Service that the kernel load-balances
// the way kube-proxy's nftables mode does, optionally with one-way latency
// added by a user-space Relay in front of each replica.
//
//   - Namespace: `ip netns add drain-<pid>-<n>`, lo up; Command runs a
//     replica inside it (`ip netns exec`), DialContext and Listen create
//     sockets inside it from this process (on a thread that did setns),
//     Close deletes it. RemoveStale deletes the namespaces of dead drain
//     processes (NewNamespace calls it).
//   - Service: a VIP on the namespace's lo, DNATed by nftables
//     (numgen random mod N vmap) to the endpoints, replaced atomically by
//     SetEndpoints (one `nft -f` transaction); conntrack keeps established
//     connections where they are. It is a endpoint.Target; Dial reports the
//     replica the kernel chose, read back from conntrack.
//   - Relay: a TCP relay adding Latency to data, FIN and RST in both
//     directions.
//
// Everything stays inside the namespace: nothing is configured in the
// host's network namespace. It needs root, ip (iproute2) and nft
// (nftables). See docs/netpath.md.
package netpath
