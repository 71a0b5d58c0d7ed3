// Command attestd is the sgxops attestation service: a self-hosted,
// MAA-compatible API that verifies SGX quotes and issues tokens. It only
// wires the process to the attestd package: flags and file through
// attestd/config, the JSON log, signals and the exit code.
//
// Exit codes: 0 after a clean shutdown (or for --help and --version), 2 for
// bad flags or configuration, 1 otherwise.
//
// The container image has no CA bundle (it holds only this binary): the
// fallback roots below (Mozilla's, pinned by the module version) are used
// only when the system has none, so that HTTPS to Intel PCS, a PCCS or THIM
// verifies in the image too. A mounted /etc/ssl/certs bundle takes precedence.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sgxops/sgxops/attestd"
	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/internal/buildinfo"

	_ "golang.org/x/crypto/x509roots/fallback"
)

func main() {
	// --version alone prints the build and exits (for images and support).
	if len(os.Args) == 2 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		fmt.Println(buildinfo.Read().String("attestd"))
		return
	}
	os.Exit(run(context.Background(), os.Args[1:], os.Stderr))
}

// run runs attestd with command-line args until SIGINT/SIGTERM (or ctx is
// done), logging JSON to stderr, and returns the process exit code: 0 after
// a clean shutdown, 2 for bad flags or configuration, 1 otherwise.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, err := config.ParseFlags(args, stderr)
	if config.IsHelp(err) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "attestd:", strings.TrimPrefix(err.Error(), "attestd: "))
		return 2
	}
	log := newLogger(stderr, cfg.Log.Level)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r, err := attestd.Start(ctx, cfg, log)
	if err != nil {
		log.Error("start failed", "err", err.Error())
		return 1
	}
	if err := r.Wait(ctx); err != nil {
		log.Error("stopped with an error", "err", err.Error())
		return 1
	}
	log.Info("stopped")
	return 0
}

// newLogger returns attestd's JSON logger at level (debug, info, warn or
// error; anything else is info).
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})).With("service", "attestd")
}
