// Command pause is the pod sandbox ("pause") process of the E2E cluster's
// containers: it sleeps until SIGTERM or SIGINT and reaps nothing else. It is
// packed as the image sgxops.local/pause:e2e (containerd's sandbox_image in
// scripts/k8s/cluster.sh) by
// cmd/sgxops-images --system, because no registry is reachable to pull it.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
}
