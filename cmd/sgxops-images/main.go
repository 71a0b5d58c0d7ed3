// Command sgxops-images builds the sgxops container images as OCI image
// tarballs in bin/images (see package internal/images), without Docker and
// without a registry. "make images" runs it.
//
//	go run ./cmd/sgxops-images [--out bin/images] [--version 0.1.0] [--only NAME,...]
//	go run ./cmd/sgxops-images --system --coredns PATH --out bin/images/system
//
// The timestamp of every image is SOURCE_DATE_EPOCH when set, else the time
// of the HEAD commit; the revision label is the HEAD commit. Exit 0 when all
// images were written, 1 otherwise (a missing main package is named).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/sgxops/sgxops/internal/images"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sgxops-images:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("out", "bin/images", "output directory for NAME.tar")
	version := flag.String("version", "0.1.0", "image tag (the chart's appVersion)")
	only := flag.String("only", "", "comma-separated image names (default: attestd,operator,sgxops,sample)")
	arch := flag.String("arch", "", "GOARCH of the images (default: this machine's)")
	system := flag.Bool("system", false, "build the E2E cluster's system images instead (pause, coredns: tag "+images.SystemVersion+"; needs --coredns)")
	coredns := flag.String("coredns", "", "with --system: the CoreDNS binary (scripts/install-tools.sh coredns)")
	flag.Parse()
	root, err := git("rev-parse", "--show-toplevel")
	if err != nil {
		return fmt.Errorf("run inside the sgxops git checkout: %w", err)
	}
	rev, err := git("rev-parse", "HEAD")
	if err != nil {
		return err
	}
	epoch, err := sourceEpoch()
	if err != nil {
		return err
	}
	o := images.Options{
		Root: root, OutDir: *out, Version: *version, Epoch: epoch, Revision: rev, Arch: *arch,
		Env: os.Environ(), Log: os.Stderr,
	}
	if *only != "" {
		o.Only = strings.Split(*only, ",")
	}
	if *system {
		if *coredns == "" {
			return fmt.Errorf("--system needs --coredns PATH (build it with scripts/install-tools.sh coredns)")
		}
		o.Specs, o.Version = images.SystemSpecs(*coredns), images.SystemVersion
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := images.Build(ctx, o)
	for _, r := range res {
		fmt.Printf("%s\t%s\t%s\n", r.File, r.Ref, r.Digest)
	}
	return err
}

// sourceEpoch is SOURCE_DATE_EPOCH, else the HEAD commit's time.
func sourceEpoch() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		var err error
		if s, err = git("log", "-1", "--format=%ct"); err != nil {
			return time.Time{}, err
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
	}
	return time.Unix(n, 0).UTC(), nil
}

func git(args ...string) (string, error) {
	b, err := exec.Command("git", args...).Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(b)), nil
}
