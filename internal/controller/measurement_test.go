package controller

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/sgxops/sgxops/examples/aggregate"
	"github.com/sgxops/sgxops/internal/cli"
)

func TestParseMeasurement(t *testing.T) {
	mr := strings.Repeat("ab", 32)
	signer := strings.Repeat("CD", 32)
	for _, tc := range []struct {
		name, msg string
		err       error
		check     func(t *testing.T, m *Measurement)
	}{
		{"array with unknown fields", `[{"file":"/artifacts/a.so","format":"sgx-sdk","artifact_sha256":"` + mr + `","mrenclave":"` + mr + `","mrsigner":"` + signer + `","isv_prod_id":3,"isv_svn":7,"debug":false,"attribute_flags":["MODE64BIT"],"later":{"x":1}}]`, nil,
			func(t *testing.T, m *Measurement) {
				if m.MRSigner != strings.ToLower(signer) || *m.ISVProdID != 3 || *m.ISVSVN != 7 || m.ArtifactSHA256 != mr {
					t.Errorf("%+v", m)
				}
			}},
		{"single object", `{"file":"a.sgxs","mrenclave":"` + mr + `"}`, nil, nil},
		{"empty", "  ", ErrMeasurementInvalid, nil},
		{"not JSON", "measure: open /artifacts/a.so: no such file", ErrMeasurementInvalid, nil},
		{"empty array", "[]", ErrMeasurementInvalid, nil},
		{"measure error", `[{"file":"a.so","error":"enclave: no SIGSTRUCT"}]`, ErrMeasurementInvalid, nil},
		{"short mrenclave", `[{"file":"a.so","mrenclave":"abcd"}]`, ErrMeasurementInvalid, nil},
		{"bad mrsigner", `[{"file":"a.so","mrenclave":"` + mr + `","mrsigner":"zz"}]`, ErrMeasurementInvalid, nil},
		{"bad signature", `[{"file":"a.so","mrenclave":"` + mr + `","signature_valid":false,"signature_error":"rsa: verification error"}]`, ErrMeasurementInvalid, nil},
		{"debug enclave", `[{"file":"a.so","mrenclave":"` + mr + `","debug":true}]`, ErrDebugEnclave, func(t *testing.T, m *Measurement) {
			if m == nil || m.MREnclave != mr {
				t.Errorf("debug: the measurement is still reported: %+v", m)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMeasurement(tc.msg)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if tc.check != nil {
				tc.check(t, m)
			}
		})
	}
}

func TestMeasurementSecretRoundTrip(t *testing.T) {
	p, s := uint16(9), uint16(2)
	m := &Measurement{MREnclave: strings.Repeat("01", 32), MRSigner: strings.Repeat("02", 32), ISVProdID: &p, ISVSVN: &s,
		ArtifactSHA256: strings.Repeat("03", 32), BuilderImageDigest: "img@sha256:x", SourceRef: "https://g/r@v1"}
	sec := &corev1.Secret{Data: map[string][]byte{}}
	for k, v := range m.secretData("v1") {
		sec.Data[k] = []byte(v)
	}
	got, err := measurementFromSecret(sec)
	if err != nil {
		t.Fatal(err)
	}
	if got.MREnclave != m.MREnclave || got.MRSigner != m.MRSigner || *got.ISVProdID != 9 || *got.ISVSVN != 2 ||
		got.ArtifactSHA256 != m.ArtifactSHA256 || got.BuilderImageDigest != m.BuilderImageDigest || got.SourceRef != m.SourceRef {
		t.Errorf("round trip: %+v", got)
	}
	sec.Data[KeyISVSVN] = []byte("70000")
	if _, err := measurementFromSecret(sec); !errors.Is(err, ErrMeasurementInvalid) {
		t.Errorf("bad isvsvn: %v", err)
	}
}

// TestParseMeasurementOfTheCLI parses what the real `sgxops measure --output
// json --termination-log` writes for the sample's simulated build artifact (a
// bare SGXS stream, unsigned): the contract between the build pod and the
// operator. The E2E found the operator refusing it as "signature invalid".
func TestParseMeasurementOfTheCLI(t *testing.T) {
	dir := t.TempDir()
	art := filepath.Join(dir, "aggregate.sgxs")
	if err := aggregate.WriteImage(art, "v1"); err != nil {
		t.Fatal(err)
	}
	term := filepath.Join(dir, "termination-log")
	args := measureArgs("sgxops", art)[1:]
	for i := range args {
		if args[i] == termLog {
			args[i] = term
		}
	}
	var out, errb bytes.Buffer
	if code := cli.Main(args, &out, &errb); code != 0 {
		t.Fatalf("measure exit %d: %s", code, errb.String())
	}
	msg, err := os.ReadFile(term)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMeasurement(string(msg))
	if err != nil {
		t.Fatalf("the CLI's own report of an unsigned SGXS stream is refused: %v\n%s", err, msg)
	}
	want, _ := aggregate.Measure("v1")
	if m.MREnclave != hex.EncodeToString(want.MREnclave[:]) || m.ArtifactSHA256 == "" {
		t.Fatalf("parsed %+v", m)
	}
}
