// Package kube holds the local-cluster harness (up, down, inventory,
// rollout, measure, variants: bash) that runs drain test against a real
// kubelet and kube-proxy, see docs/kubernetes.md. The Go here is its tests;
// ociimage and pause are the harness's programs.
package kube
