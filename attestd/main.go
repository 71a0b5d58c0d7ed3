package attestd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"strings"
	"syscall"
)

// Main runs attestd with command-line args until SIGINT/SIGTERM (or ctx is
// done), logging JSON to stderr, and returns the process exit code: 0 after
// a clean shutdown, 2 for bad flags or configuration, 1 otherwise.
func Main(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, err := ParseFlags(args, stderr)
	if IsHelp(err) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "attestd:", strings.TrimPrefix(err.Error(), "attestd: "))
		return 2
	}
	log := NewLogger(stderr, cfg.Log.Level)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r, err := Start(ctx, cfg, log)
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

// NewLogger returns the JSON logger attestd uses.
func NewLogger(w io.Writer, level string) *slog.Logger {
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
