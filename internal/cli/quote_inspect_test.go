package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/internal/corpus"
)

// run executes the CLI in-process and returns exit code, stdout and stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestQuoteInspectJSON(t *testing.T) {
	tests := []struct {
		rel  string
		want map[string]any
	}{
		{"phala-dcap-qvl/sgx_quote", map[string]any{"version": 3.0, "tee": "sgx", "fmspc": "00a067110000",
			"mrenclave": "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb", "isv_prod_id": 0.0, "debug": false}},
		{"automata/quotev3.hex", map[string]any{"version": 3.0, "tee": "sgx", "fmspc": "00606a000000", "encoding": "hex"}},
		{"phala-dcap-qvl/tdx-quote.hex", map[string]any{"version": 4.0, "tee": "tdx", "fmspc": "b0c06f000000", "encoding": "hex"}},
		{"automata/quotev5.dat", map[string]any{"version": 5.0, "tee": "tdx", "fmspc": "90c06f000000",
			"mrtd": "157768a71a6a31f5561978c4cde665809d22976ef5dead2952839b7b3ea23b6c2931c9148fe1d117c99faefac18bb73b"}},
		{"automata/solana/quote_sgx.bin", map[string]any{"debug": true}},
	}
	for _, tc := range tests {
		t.Run(tc.rel, func(t *testing.T) {
			code, out, stderr := run(t, "quote", "inspect", corpus.Path(t, tc.rel), "--output", "json")
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
			for _, k := range []string{"version", "tee", "report_data", "fmspc"} {
				if _, ok := got[k]; !ok {
					t.Errorf("missing key %s", k)
				}
			}
			if got["tee"] == "tdx" {
				if r, _ := got["rtmrs"].([]any); len(r) != 4 {
					t.Errorf("rtmrs = %v", got["rtmrs"])
				}
			}
		})
	}
}

func TestQuoteInspectBase64AndText(t *testing.T) {
	raw := corpus.Read(t, "phala-dcap-qvl/sgx_quote")
	p := filepath.Join(t.TempDir(), "q.b64")
	if err := os.WriteFile(p, []byte(b64(raw)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := run(t, "quote", "inspect", p)
	if code != ExitOK || !strings.Contains(out, "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb") || !strings.Contains(out, "NOT verified") {
		t.Fatalf("exit %d, out:\n%s", code, out)
	}
	code, out, _ = run(t, "quote", "inspect", corpus.Path(t, "automata/solana/quote_sgx.bin"))
	if code != ExitOK || !strings.Contains(out, "WARNING: DEBUG") {
		t.Fatalf("debug quote not flagged: %s", out)
	}
}

func TestQuoteInspectErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	raw := corpus.Read(t, "phala-dcap-qvl/sgx_quote")
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no args", []string{"quote", "inspect"}, ExitUsage, "arg"},
		{"bad output", []string{"quote", "inspect", write("ok", raw), "-o", "yaml"}, ExitUsage, "--output"},
		{"missing file", []string{"quote", "inspect", filepath.Join(dir, "nope")}, ExitInvalidInput, "no such file"},
		{"empty", []string{"quote", "inspect", write("empty", nil)}, ExitInvalidInput, "empty"},
		{"truncated", []string{"quote", "inspect", write("trunc", raw[:1000])}, ExitInvalidInput, "offset"},
		{"wrong version", []string{"quote", "inspect", write("v7", append([]byte{7, 0}, raw[2:]...))}, ExitInvalidInput, "header.version"},
		{"garbage text", []string{"quote", "inspect", write("txt", []byte("hello, world!"))}, ExitInvalidInput, "neither hex nor base64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", code, tc.code, stderr, tc.msg)
			}
		})
	}
}
