package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	blocked := t.TempDir() // its "sim" entry is a file, so step 1 cannot save the platform
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
		{"step fails", []string{"demo", "--dir", blocked}, ExitVerifyFailed, "step 1"},
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
