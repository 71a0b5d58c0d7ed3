package cli_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/examples/aggregate"
	"github.com/sgxops/sgxops/internal/cli"
	"github.com/sgxops/sgxops/internal/corpus"
)

// TestMeasureTerminationLog: the JSON a build Job leaves in its termination
// message has the artifact's SHA-256 and identity, is the same as stdout's,
// and stays within Kubernetes' 4096 bytes even for absurd paths.
func TestMeasureTerminationLog(t *testing.T) {
	dir := t.TempDir()
	sample := filepath.Join(dir, "sample-v1.sgxs")
	if err := aggregate.WriteImage(sample, "v1"); err != nil {
		t.Fatal(err)
	}
	// A path near PATH_MAX (4096): directories of 200 bytes.
	deep := dir
	for i := 0; i < 19; i++ {
		deep = filepath.Join(deep, strings.Repeat("d", 200))
	}
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Skipf("cannot make a deep directory here: %v", err)
	}
	long := filepath.Join(deep, "sample-v1.sgxs")
	if err := aggregate.WriteImage(long, "v1"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, file string
		keys       []string
		shortened  bool
	}{
		{"sample sgxs", sample, []string{"artifact_sha256", "mrenclave", "format"}, false},
		{"signed sgxs", corpus.Path(t, "sigstruct/fortanix-rust-sgx/test_enclave.sgxs"),
			[]string{"artifact_sha256", "mrenclave", "mrsigner", "isv_prod_id", "isv_svn", "debug"}, false},
		{"sigstruct", corpus.Path(t, "sigstruct/intel-linux-sgx/le_prod_css.bin"),
			[]string{"artifact_sha256", "mrenclave", "mrsigner", "isv_prod_id", "isv_svn", "debug"}, false},
		{"4 KiB path", long, []string{"artifact_sha256", "mrenclave"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "termination-log")
			code, out, errs := runMeasure(t, "--output", "json", "--termination-log", log, tt.file)
			if code != cli.ExitOK {
				t.Fatalf("exit %d: %s", code, errs)
			}
			b, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > 4096 {
				t.Fatalf("termination log has %d bytes, Kubernetes keeps 4096", len(b))
			}
			var fromLog, fromOut []map[string]any
			if err := json.Unmarshal(b, &fromLog); err != nil {
				t.Fatalf("termination log is not JSON: %v\n%s", err, b)
			}
			if err := json.Unmarshal([]byte(out), &fromOut); err != nil {
				t.Fatal(err)
			}
			content, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(content)
			for _, k := range tt.keys {
				if fromLog[0][k] == nil || fromLog[0][k] != fromOut[0][k] {
					t.Errorf("%s: log %v, stdout %v", k, fromLog[0][k], fromOut[0][k])
				}
			}
			if fromLog[0]["artifact_sha256"] != hex.EncodeToString(sum[:]) {
				t.Errorf("artifact_sha256 %v, want %x", fromLog[0]["artifact_sha256"], sum)
			}
			if got := fromLog[0]["file"] != fromOut[0]["file"]; got != tt.shortened {
				t.Errorf("file shortened = %v, want %v (%v)", got, tt.shortened, fromLog[0]["file"])
			}
		})
	}
}

func TestMeasureTerminationLogUsage(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.sgxs"), filepath.Join(dir, "b.sgxs")
	for _, p := range []string{a, b} {
		if err := aggregate.WriteImage(p, "v1"); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"two files", []string{"--termination-log", filepath.Join(dir, "log"), a, b}, cli.ExitUsage},
		{"unwritable log", []string{"--termination-log", filepath.Join(dir, "no", "such", "log"), a}, cli.ExitInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, _, errs := runMeasure(t, tt.args...); code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, errs)
			}
		})
	}
}
