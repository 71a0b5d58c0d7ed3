package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/internal/buildinfo"
)

func TestCopyExecutable(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("binary"), 0o600); err != nil {
		t.Fatal(err)
	}
	existing := filepath.Join(dir, "existing")
	if err := os.WriteFile(existing, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, src, dest string
		ok              bool
	}{
		{"new file", src, filepath.Join(dir, "new"), true},
		{"replaces", src, existing, true},
		{"missing dir", src, filepath.Join(dir, "no", "dest"), false},
		{"missing source", filepath.Join(dir, "nope"), filepath.Join(dir, "x"), false},
		{"empty dest", src, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := copyExecutable(tt.src, tt.dest)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if !tt.ok {
				if err != nil && !strings.HasPrefix(err.Error(), "self-copy:") {
					t.Errorf("error %q lacks the prefix", err)
				}
				return
			}
			st, err := os.Stat(tt.dest)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o755 {
				t.Errorf("mode %v, want 0755", st.Mode().Perm())
			}
			if b, _ := os.ReadFile(tt.dest); string(b) != "binary" {
				t.Errorf("content %q", b)
			}
		})
	}
	// No temporary file is left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("left %s", e.Name())
		}
	}
}

// TestSelfCopyCommand copies the test binary itself (os.Executable) and
// runs the copy.
func TestSelfCopyCommand(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "sgxops")
	var out, errb bytes.Buffer
	if code := Main([]string{"self-copy", dest}, &out, &errb); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	self, _ := os.Executable()
	a, _ := os.ReadFile(self)
	b, _ := os.ReadFile(dest)
	if !bytes.Equal(a, b) {
		t.Fatal("the copy differs from the running binary")
	}
	if code := Main([]string{"self-copy"}, &out, &errb); code != ExitUsage {
		t.Fatalf("no DEST: exit %d, want %d", code, ExitUsage)
	}
}

func TestVersionCommand(t *testing.T) {
	tests := []struct {
		args []string
		want string
		code int
	}{
		{[]string{"version"}, "sgxops ", ExitOK},
		{[]string{"version", "--output", "json"}, `"go_version"`, ExitOK},
		{[]string{"version", "--output", "yaml"}, "", ExitUsage},
		{[]string{"version", "extra"}, "", ExitUsage},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := Main(tt.args, &out, &errb); code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, errb.String())
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Fatalf("output %q lacks %q", out.String(), tt.want)
			}
		})
	}
	var out bytes.Buffer
	if err := runVersion(&out, buildinfo.Info{Module: "m", Version: "v0.1.0", GoVersion: "go1.26"}, outputJSON); err != nil {
		t.Fatal(err)
	}
	var i buildinfo.Info
	if err := json.Unmarshal(out.Bytes(), &i); err != nil || i.Version != "v0.1.0" {
		t.Fatalf("JSON %s: %v", out.String(), err)
	}
}
