package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRunExitCodes: the documented exit codes, and the error line without a
// doubled "attestd:" prefix.
func TestRunExitCodes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"help", []string{"--help"}, 0, "Usage: attestd [flags]"},
		{"unknown flag", []string{"--listn", "x"}, 2, "unknown flag: --listn"},
		{"argument", []string{"serve"}, 2, `attestd: unexpected arguments ["serve"]`},
		{"invalid config", []string{"--listen", "localhost"}, 2, "attestd: config listen: "},
		{"start fails", []string{"--listen", "127.0.0.1:0", "--insecure-http", "--data-dir", filepath.Join(file, "data"),
			"--pcs", "http://127.0.0.1:1"}, 1, `"msg":"start failed"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if strings.Contains(stderr.String(), "attestd: attestd:") {
				t.Fatalf("doubled prefix:\n%s", stderr.String())
			}
		})
	}
}

// TestRunStops: attestd serves until its context ends, then stops cleanly
// (exit 0) and logs JSON lines marked with the service name.
func TestRunStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--insecure-http", "--data-dir", t.TempDir(),
			"--pcs", "http://127.0.0.1:1", "--log-level", "debug"}, &logs)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), `"msg":"listening"`) {
		select {
		case code := <-done:
			t.Fatalf("exit %d before listening:\n%s", code, logs.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not listening:\n%s", logs.String())
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop")
	}
	out := logs.String()
	if !strings.Contains(out, `"msg":"stopped"`) || !strings.Contains(out, `"service":"attestd"`) {
		t.Fatalf("log:\n%s", out)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
