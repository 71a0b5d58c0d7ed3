package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, tc := range []struct {
		content string
		mode    os.FileMode
	}{{"first", 0o600}, {"second, longer", 0o644}} {
		if err := Write(p, []byte(tc.content), tc.mode); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != tc.content {
			t.Fatalf("read %q, %v; want %q", b, err, tc.content)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != tc.mode {
			t.Errorf("mode %v, want %v", fi.Mode().Perm(), tc.mode)
		}
	}
	// A failed write (the target is a directory) leaves no temporary file.
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(dir, "d"), []byte("x"), 0o600); err == nil {
		t.Fatal("rename over a directory succeeded")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("%d entries left, want f and d", len(ents))
	}
}
