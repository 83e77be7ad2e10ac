// Command pause is the pod sandbox's process (what registry.k8s.io/pause
// does): it holds the pod's namespaces, reaps nothing (SIGCHLD ignored) and
// exits on SIGTERM or SIGINT. test/kube/up packages it as
// registry.k8s.io/pause:3.10 so the CRI never pulls an image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signal.Ignore(syscall.SIGCHLD)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
}
