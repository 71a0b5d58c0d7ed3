package cli_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/internal/cli"
	"github.com/sgxops/sgxops/internal/corpus"
)

func runMeasure(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(append([]string{"measure"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func decodeMeasure(t *testing.T, out string) []map[string]any {
	t.Helper()
	var v []map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, out)
	}
	return v
}

// Values from corpus/PROVENANCE.md, "SIGSTRUCT values".
var measureCorpus = []struct {
	file   string
	want   map[string]any
	loudly bool // text output must carry the DEBUG warning
}{
	{"sigstruct/enarx-sgx/encl.ss", map[string]any{"format": "sigstruct",
		"mrenclave":   "b999536238fcf4e9d360ef6cd3e0c20ef8a684c7b93f74a9c4a4c6d517d61fc0",
		"mrsigner":    "2f9f8fd4fe12d77232f1d87571ca8252ca27714efe7705e46222cffd5a22e8c4",
		"isv_prod_id": 0.0, "isv_svn": 0.0, "debug": true, "signature_valid": true, "vendor": "0000", "date": "00000000"}, true},
	{"sigstruct/fortanix-rust-sgx/test_enclave.sig", map[string]any{"format": "sigstruct",
		"mrenclave":   "784acfd7d5096a8f0fbd3265760bff21b120f62407a9a9e5ba31aa3c8ed198fc",
		"mrsigner":    "fb4bab3d6036ac1d730fa83d7366df1dd2dfeac194ef335d6854d8a6c6475542",
		"isv_prod_id": 65535.0, "isv_svn": 0.0, "debug": true, "signature_valid": true, "date": "20161214"}, true},
	{"sigstruct/fortanix-rust-sgx/test_enclave.sgxs", map[string]any{"format": "sgxs",
		"mrenclave":      "784acfd7d5096a8f0fbd3265760bff21b120f62407a9a9e5ba31aa3c8ed198fc",
		"sgxs_mrenclave": "784acfd7d5096a8f0fbd3265760bff21b120f62407a9a9e5ba31aa3c8ed198fc",
		"mrsigner":       "fb4bab3d6036ac1d730fa83d7366df1dd2dfeac194ef335d6854d8a6c6475542",
		"isv_prod_id":    65535.0, "isv_svn": 0.0, "debug": true, "signature_valid": true, "mrenclave_match": true}, true},
	{"sigstruct/intel-linux-sgx/le_prod_css.bin", map[string]any{"format": "sigstruct",
		"mrenclave":   "7881af9f9def547da9908c008f29cde9bd78064e36ac7e14c83c294ca4806150",
		"mrsigner":    "acb77012053e05a63d413b8bbae8fb6c5d73b3f2996d91c43bbbf90959c0f8d4",
		"isv_prod_id": 32.0, "isv_svn": 7.0, "debug": false, "signature_valid": true, "vendor": "8086", "date": "20240811",
		"attributes": "24000000000000000300000000000000", "attributes_mask": "ffffffffffff00ff1bffffffffffffff",
		"miscselect": "00000000", "miscselect_mask": "ffffffff"}, false},
	{"sigstruct/fortanix-rust-sgx/libsgx_pce.signed.so.1.25.100.1", map[string]any{"format": "sgx-sdk-elf",
		"mrenclave":   "03e3f07e8c11cc08a1fa2afa93a8f2699cc8d9e17efa890af5df4e3cf7696578",
		"mrsigner":    "c54a62f2be9ef76efb1f3930ad81ea7f60defc1f5f25e09b7c067a815ae0c6cb",
		"isv_prod_id": 1.0, "isv_svn": 16.0, "debug": false, "signature_valid": true, "sigstruct_offset": float64(0x1F91C5)}, false},
	{"sigstruct/initc3-auditee/sigstruct", map[string]any{"format": "sigstruct",
		"mrenclave":   "f19de84787f1a90ad7bc2d4c2fd952e05545c6f177e8b10b112a4cef31ba0454",
		"mrsigner":    "bd71c6380ef77c5417e8b2d1ce2d4b6504b9f418e5049342440cfff2443d95bd",
		"isv_prod_id": 0.0, "isv_svn": 1.0, "debug": true, "signature_valid": true}, true},
}

func TestMeasureCorpusJSON(t *testing.T) {
	var args []string
	for _, c := range measureCorpus {
		args = append(args, corpus.Path(t, c.file))
	}
	code, out, errs := runMeasure(t, append(args, "--output", "json")...)
	if code != cli.ExitOK {
		t.Fatalf("exit %d, stderr %s", code, errs)
	}
	got := decodeMeasure(t, out)
	if len(got) != len(measureCorpus) {
		t.Fatalf("%d objects for %d files", len(got), len(measureCorpus))
	}
	for i, c := range measureCorpus {
		if got[i]["file"] != args[i] {
			t.Errorf("object %d is for %v, want %s", i, got[i]["file"], args[i])
		}
		for k, v := range c.want {
			if got[i][k] != v {
				t.Errorf("%s: %s = %v, want %v", c.file, k, got[i][k], v)
			}
		}
		if _, ok := got[i]["error"]; ok {
			t.Errorf("%s: unexpected error %v", c.file, got[i]["error"])
		}
	}
}

func TestMeasureTextDebugWarning(t *testing.T) {
	const warning = "WARNING: DEBUG enclave — memory readable by the host"
	for _, c := range measureCorpus {
		code, out, errs := runMeasure(t, corpus.Path(t, c.file))
		if code != cli.ExitOK {
			t.Fatalf("%s: exit %d: %s", c.file, code, errs)
		}
		if !strings.Contains(out, c.want["mrenclave"].(string)) {
			t.Errorf("%s: text output lacks MRENCLAVE:\n%s", c.file, out)
		}
		if strings.Contains(out, warning) != c.loudly {
			t.Errorf("%s: debug warning present=%v, want %v:\n%s", c.file, !c.loudly, c.loudly, out)
		}
	}
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMeasureBadInputs(t *testing.T) {
	dir := t.TempDir()
	le := corpus.Read(t, "sigstruct/intel-linux-sgx/le_prod_css.bin")
	pce := corpus.Read(t, "sigstruct/fortanix-rust-sgx/libsgx_pce.signed.so.1.25.100.1")
	sgxs := corpus.Read(t, "sigstruct/fortanix-rust-sgx/test_enclave.sgxs")
	mut := func(b []byte, f func(c []byte)) []byte {
		c := append([]byte{}, b...)
		f(c)
		return c
	}
	// An .sgxs whose sibling .sig signs a different enclave.
	mismatch := writeFile(t, dir, "mismatch.sgxs", sgxs)
	writeFile(t, dir, "mismatch.sig", le)
	tests := []struct {
		name    string
		path    string
		code    int
		errText string // substring of "error" (exit 1) or "signature_error" (exit 3)
	}{
		{"empty", writeFile(t, dir, "empty", nil), cli.ExitInvalidInput, "empty input"},
		{"not an enclave", writeFile(t, dir, "text", []byte("#!/bin/sh\necho hi\n")), cli.ExitInvalidInput, "unknown format"},
		{"truncated sigstruct", writeFile(t, dir, "trunc.sig", le[:1500]), cli.ExitInvalidInput, "field sigstruct at offset 1500"},
		{"wrong header magic", writeFile(t, dir, "magic.sig", mut(le, func(c []byte) { c[1] = 1 })), cli.ExitInvalidInput, "field header at offset 0"},
		{"absurd note size", writeFile(t, dir, "note.so", mut(pce, func(c []byte) { binary.LittleEndian.PutUint32(c[0x1F916C+4:], 0xffffff00) })), cli.ExitInvalidInput, "field note.descsz at offset 2068848"},
		{"truncated ELF", writeFile(t, dir, "trunc.so", pce[:10000]), cli.ExitInvalidInput, "not a valid ELF file"},
		{"corrupted sgxs record", writeFile(t, dir, "bad.sgxs", mut(sgxs, func(c []byte) { copy(c[64:68], "XXXX") })), cli.ExitInvalidInput, "field record[1].tag at offset 64"},
		{"flipped signature byte", writeFile(t, dir, "sig.sig", mut(le, func(c []byte) { c[520] ^= 1 })), cli.ExitVerifyFailed, "signature mismatch"},
		{"flipped signed byte", writeFile(t, dir, "signed.sig", mut(le, func(c []byte) { c[1024] ^= 1 })), cli.ExitVerifyFailed, "signature mismatch"},
		{"flipped signed byte in ELF", writeFile(t, dir, "signed.so", mut(pce, func(c []byte) { c[0x1F91C5+960] ^= 1 })), cli.ExitVerifyFailed, "signature mismatch"},
		{"exponent 65537", writeFile(t, dir, "exp.sig", mut(le, func(c []byte) { binary.LittleEndian.PutUint32(c[512:], 65537) })), cli.ExitVerifyFailed, "bad exponent: field exponent at offset 512"},
		{"wrong Q1", writeFile(t, dir, "q1.sig", mut(le, func(c []byte) { c[1040] ^= 1 })), cli.ExitVerifyFailed, "bad Q1: field q1 at offset 1040"},
		{"wrong Q2", writeFile(t, dir, "q2.sig", mut(le, func(c []byte) { c[1424] ^= 1 })), cli.ExitVerifyFailed, "bad Q2: field q2 at offset 1424"},
		{"sgxs does not match its .sig", mismatch, cli.ExitVerifyFailed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runMeasure(t, "--output", "json", tt.path)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr %s; out %s", code, tt.code, errs, out)
			}
			if !strings.HasPrefix(errs, "sgxops: measure:") {
				t.Errorf("stderr %q lacks the summary", errs)
			}
			got := decodeMeasure(t, out)
			if len(got) != 1 {
				t.Fatalf("%d objects", len(got))
			}
			field := "error"
			if tt.code == cli.ExitVerifyFailed {
				field = "signature_error"
				if tt.errText == "" {
					if got[0]["mrenclave_match"] != false || got[0]["signature_valid"] != true {
						t.Errorf("mismatch not reported: %v", got[0])
					}
					return
				}
				if got[0]["signature_valid"] != false {
					t.Errorf("signature_valid = %v", got[0]["signature_valid"])
				}
			}
			if s, _ := got[0][field].(string); !strings.Contains(s, tt.errText) {
				t.Errorf("%s = %q, want it to contain %q", field, s, tt.errText)
			}
			// Text output never panics and reports the problem too.
			code, out, _ = runMeasure(t, tt.path)
			if code != tt.code || !(strings.Contains(out, "ERROR") || strings.Contains(out, "INVALID") || strings.Contains(out, "MISMATCH")) {
				t.Errorf("text: exit %d, output:\n%s", code, out)
			}
		})
	}
}

func TestMeasureExitPrecedence(t *testing.T) {
	dir := t.TempDir()
	le := corpus.Read(t, "sigstruct/intel-linux-sgx/le_prod_css.bin")
	bad := append([]byte{}, le...)
	bad[600] ^= 1
	good := corpus.Path(t, "sigstruct/intel-linux-sgx/le_prod_css.bin")
	badSig := writeFile(t, dir, "bad.sig", bad)
	malformed := writeFile(t, dir, "junk", []byte("junk"))
	if code, _, _ := runMeasure(t, good, badSig); code != cli.ExitVerifyFailed {
		t.Errorf("good + bad signature: exit %d, want %d", code, cli.ExitVerifyFailed)
	}
	if code, _, _ := runMeasure(t, badSig, malformed, good); code != cli.ExitInvalidInput {
		t.Errorf("bad signature + malformed: exit %d, want %d", code, cli.ExitInvalidInput)
	}
}

func TestMeasureBareSGXS(t *testing.T) {
	p := writeFile(t, t.TempDir(), "alone.sgxs", corpus.Read(t, "sigstruct/fortanix-rust-sgx/test_enclave.sgxs"))
	code, out, errs := runMeasure(t, "-o", "json", p)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	got := decodeMeasure(t, out)[0]
	if got["mrenclave"] != "784acfd7d5096a8f0fbd3265760bff21b120f62407a9a9e5ba31aa3c8ed198fc" || got["signed"] != false || got["signature_valid"] != false {
		t.Errorf("bare stream: %v", got)
	}
	if _, ok := got["debug"]; ok {
		t.Errorf("debug reported without a SIGSTRUCT: %v", got["debug"])
	}
}

func TestMeasureUsage(t *testing.T) {
	le := corpus.Path(t, "sigstruct/intel-linux-sgx/le_prod_css.bin")
	tests := [][]string{
		{},
		{"--output", "yaml", le},
		{"--no-such-flag", le},
	}
	for _, args := range tests {
		if code, _, _ := runMeasure(t, args...); code != cli.ExitUsage {
			t.Errorf("measure %v: exit %d, want %d", args, code, cli.ExitUsage)
		}
	}
}
