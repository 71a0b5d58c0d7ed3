package main

import (
	"bytes"
	"io"
	"runtime"
	"strings"
	"testing"
)

// TestVersionSubcommand: `sgxops-sample version` prints the binary's build, not
// the simulated build version of --version.
func TestVersionSubcommand(t *testing.T) {
	var out bytes.Buffer
	if err := runVersion(nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.HasPrefix(s, "sgxops-sample ") || !strings.Contains(s, runtime.Version()) {
		t.Fatalf("version line %q", s)
	}
	if err := runVersion([]string{"x"}, &out, io.Discard); err == nil {
		t.Fatal("extra argument accepted")
	}
}
