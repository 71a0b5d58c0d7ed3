package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/internal/demo"
)

func TestDemoCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main([]string{"demo"}, &stdout, &stderr)
	if code != ExitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"[ 1/12]", "[12/12]", "SIMULATED", "release aggregate/v2 (active)", "rejected", "Done in"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestDemoCommandErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	blocked := t.TempDir() // holds a file: not a fresh directory for the demo
	if err := os.WriteFile(filepath.Join(blocked, "sim"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"bad grace", []string{"demo", "--drain-grace", "0s"}, ExitUsage, "--drain-grace"},
		{"extra argument", []string{"demo", "now"}, ExitUsage, "unknown command"},
		{"dir is a file", []string{"demo", "--dir", file}, ExitUsage, "--dir"},
		{"dir not empty", []string{"demo", "--dir", blocked}, ExitUsage, "not empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.want)
			}
		})
	}
}

// TestDemoExit pins the exit code of each kind of demo error.
func TestDemoExit(t *testing.T) {
	step := &demo.StepError{Step: 4, Title: "Register v1", Err: errors.New("409")}
	tests := []struct {
		err  error
		code int
	}{
		{nil, ExitOK},
		{step, ExitVerifyFailed},
		{fmt.Errorf("wrapped: %w", step), ExitVerifyFailed},
		{fmt.Errorf("%w: /tmp/x", demo.ErrDirNotEmpty), ExitUsage},
		{errors.New("listen: address in use"), ExitInternal},
	}
	for _, tc := range tests {
		err := demoExit(tc.err)
		code := ExitOK
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		} else if err != nil {
			t.Fatalf("%v: not an exit error", tc.err)
		}
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.err, code, tc.code)
		}
	}
}
