package controller

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
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
