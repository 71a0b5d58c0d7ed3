package attestd

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/internal/corpus"
	"github.com/sgxops/sgxops/sgx"
)

// realQuote returns the phala SGX v3 quote of the corpus (raw bytes).
func realQuote(t testing.TB) []byte {
	t.Helper()
	b, _, err := sgx.DecodeBinary(corpus.Read(t, "phala-dcap-qvl/sgx_quote"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeBase64Flavours(t *testing.T) {
	data := []byte{0xfb, 0xff, 0xfe, 0x00, 0x3e, 0x3f, 0x01}
	std := base64.StdEncoding.EncodeToString(data)
	tests := []struct {
		name string
		in   string
	}{
		{"std padded", std},
		{"std unpadded", base64.RawStdEncoding.EncodeToString(data)},
		{"url padded", base64.URLEncoding.EncodeToString(data)},
		{"url unpadded", base64.RawURLEncoding.EncodeToString(data)},
		{"with whitespace", " " + std[:4] + "\n" + std[4:] + "\t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeBase64("f", tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("got %x, want %x", got, data)
			}
		})
	}
}

func TestDecodeBase64Errors(t *testing.T) {
	tests := []struct {
		in     string
		offset int
		reason string
	}{
		{"AAA*", 3, "invalid base64 character"},
		{"AA==AA", 4, "after padding"},
		{"AAAAA", 5, "truncated"},
		{"A===", 3, "too much"},
		{"=", 0, "without data"},
		{" \n==", 0, "without data"},
	}
	for _, tt := range tests {
		_, err := DecodeBase64("quote", tt.in)
		var re *RequestError
		if !errors.As(err, &re) {
			t.Fatalf("%q: err = %v, want *RequestError", tt.in, err)
		}
		if re.Field != "quote" || re.Offset != tt.offset || !strings.Contains(re.Reason, tt.reason) {
			t.Errorf("%q: got field %q offset %d reason %q; want offset %d, reason containing %q", tt.in, re.Field, re.Offset, re.Reason, tt.offset, tt.reason)
		}
	}
}

func TestDecodeAttestRequestClientShapes(t *testing.T) {
	q := realQuote(t)
	rt := []byte("pubkey-bytes")
	url := base64.RawURLEncoding.EncodeToString
	tests := []struct {
		name     string
		kind     EvidenceKind
		body     string
		wantRT   []byte
		rtJSON   bool
		wantInit bool
		nonce    string
	}{
		{"js sdk", KindSGX, `{"quote":"` + url(q) + `","runtimeData":{"data":"` + url(rt) + `","dataType":"Binary"}}`, rt, false, false, ""},
		{"humane std base64", KindSGX, `{"quote":"` + url(q) + `","runtimeData":{"data":"` + base64.StdEncoding.EncodeToString(rt) + `","dataType":"Binary"}}`, rt, false, false, ""},
		{"gramine spaces", KindSGX, `{"quote": "` + base64.StdEncoding.EncodeToString(q) + `", "runtimeData":  {"data": "` + url(rt) + `", "dataType": "Binary"}  }`, rt, false, false, ""},
		{"missing dataType", KindSGX, `{"quote":"` + url(q) + `","runtimeData":{"data":"` + url(rt) + `"}}`, rt, false, false, ""},
		{"json runtime", KindSGX, `{"quote":"` + url(q) + `","runtimeData":{"data":"` + url([]byte(`{"k":1}`)) + `","dataType":"JSON"}}`, []byte(`{"k":1}`), true, false, ""},
		{"cpp inittimeData alias", KindSGX, `{"quote":"` + url(q) + `","inittimeData":{"data":"` + url(rt) + `","dataType":"Binary"},"nonce":"n1"}`, nil, false, true, "n1"},
		{"python json without data", KindSGX, `{"quote":"` + url(q) + `","initTimeData":{"dataType":"JSON"},"extra":[1,2]}`, nil, false, false, ""},
		{"ego open enclave", KindOpenEnclave, `{"report":"` + url(MarshalOEReport(q)) + `","runtimeData":{"data":"` + url(rt) + `","dataType":"Binary"}}`, rt, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeAttestRequest(tt.kind, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(r.Quote, q) {
				t.Fatal("quote differs")
			}
			if tt.kind == KindOpenEnclave && !bytes.Equal(r.Evidence, MarshalOEReport(q)) {
				t.Fatal("OE evidence must keep the header (quotehash covers it)")
			}
			if tt.wantRT == nil {
				if r.RuntimeData != nil {
					t.Fatalf("runtime data %q, want none", r.RuntimeData.Bytes)
				}
			} else if r.RuntimeData == nil || !bytes.Equal(r.RuntimeData.Bytes, tt.wantRT) || r.RuntimeData.JSON != tt.rtJSON {
				t.Fatalf("runtime data %+v, want %q json=%v", r.RuntimeData, tt.wantRT, tt.rtJSON)
			}
			if (r.InitTimeData != nil) != tt.wantInit {
				t.Fatalf("initTimeData present = %v, want %v", r.InitTimeData != nil, tt.wantInit)
			}
			if r.Nonce != tt.nonce || r.HasNonce != (tt.nonce != "") {
				t.Fatalf("nonce %q/%v, want %q", r.Nonce, r.HasNonce, tt.nonce)
			}
		})
	}
}

func TestDecodeAttestRequestErrors(t *testing.T) {
	q := base64.RawURLEncoding.EncodeToString(realQuote(t))
	tests := []struct {
		name, body, field string
	}{
		{"not json", `{"quote":`, "(body)"},
		{"no quote", `{"runtimeData":{"data":"AA"}}`, "quote"},
		{"bad base64", `{"quote":"AA*A"}`, "quote"},
		{"padding only", `{"quote":"="}`, "quote"},
		{"padding and space", `{"quote":" == "}`, "quote"},
		{"bad dataType", `{"quote":"` + q + `","runtimeData":{"data":"AA","dataType":"XML"}}`, "runtimeData.dataType"},
		{"json not json", `{"quote":"` + q + `","runtimeData":{"data":"` + base64.RawURLEncoding.EncodeToString([]byte("{x")) + `","dataType":"JSON"}}`, "runtimeData.data"},
		{"nonce number", `{"quote":"` + q + `","nonce":5}`, "nonce"},
		{"oe short", `{"report":"AAAA"}`, "report"},
		{"oe bad size", `{"report":"` + base64.RawURLEncoding.EncodeToString(append(MarshalOEReport([]byte{1, 2, 3}), 9)) + `"}`, "report"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind := KindSGX
			if strings.HasPrefix(tt.name, "oe") {
				kind = KindOpenEnclave
			}
			_, err := DecodeAttestRequest(kind, []byte(tt.body))
			var re *RequestError
			if !errors.As(err, &re) || re.Field != tt.field {
				t.Fatalf("err = %v, want *RequestError on field %q", err, tt.field)
			}
		})
	}
}

func TestParseOEReportHeader(t *testing.T) {
	q := realQuote(t)
	r := MarshalOEReport(q)
	// Real OE reports start with "AQAAAAIAAAA" (v1, type 2) in base64url.
	if got := base64.RawURLEncoding.EncodeToString(r[:8]); got != "AQAAAAIAAAA" {
		t.Fatalf("header prefix %s", got)
	}
	for _, off := range []int{0, 4, 8} {
		bad := bytes.Clone(r)
		bad[off] ^= 0x40
		_, err := ParseOEReport("report", bad)
		var re *RequestError
		if !errors.As(err, &re) || re.Offset != off {
			t.Errorf("flip at %d: err = %v, want offset %d", off, err, off)
		}
	}
}

// FuzzDecodeAttestRequest feeds arbitrary bodies to the lenient decoder: it
// must never panic, and whatever it accepts must round-trip to the same
// evidence through a canonical re-encoding.
func FuzzDecodeAttestRequest(f *testing.F) {
	q := realQuote(f)
	url := base64.RawURLEncoding.EncodeToString
	f.Add(uint8(1), []byte(`{"quote":"`+url(q)+`","runtimeData":{"data":"aGVsbG8","dataType":"Binary"}}`))
	f.Add(uint8(1), []byte(`{"quote":"`+base64.StdEncoding.EncodeToString(q)+`","inittimeData":{"dataType":"JSON"},"nonce":"x"}`))
	f.Add(uint8(2), []byte(`{"report":"`+url(MarshalOEReport(q))+`","runtimeData":{"data":"eyJhIjoxfQ","dataType":"JSON"}}`))
	f.Add(uint8(1), []byte(`{"quote":"AA==","draftPolicyForAttestation":"version=1.0;authorizationrules{=>permit();};"}`))
	f.Fuzz(func(t *testing.T, k uint8, body []byte) {
		kind := KindSGX
		if k%2 == 0 {
			kind = KindOpenEnclave
		}
		r, err := DecodeAttestRequest(kind, body)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *RequestError", err)
			}
			return
		}
		field := "quote"
		if kind == KindOpenEnclave {
			field = "report"
		}
		canon, _ := json.Marshal(map[string]string{field: url(r.Evidence)})
		r2, err := DecodeAttestRequest(kind, canon)
		if err != nil || !bytes.Equal(r2.Evidence, r.Evidence) || !bytes.Equal(r2.Quote, r.Quote) {
			t.Fatalf("canonical re-encoding not accepted identically: %v", err)
		}
	})
}

// FuzzDecodeBase64 checks the lenient decoder against the standard library on
// every input both accept.
func FuzzDecodeBase64(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString(realQuote(f)[:64]))
	f.Add("AQAAAAIAAADkEQAAAAAAAA")
	f.Add("a-_+/=")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := DecodeBase64("f", s)
		if err != nil {
			return
		}
		if want, err := base64.StdEncoding.DecodeString(s); err == nil && !bytes.Equal(got, want) {
			t.Fatalf("%q: got %x, std decoder %x", s, got, want)
		}
		if want, err := base64.RawURLEncoding.DecodeString(s); err == nil && !bytes.Equal(got, want) {
			t.Fatalf("%q: got %x, raw url decoder %x", s, got, want)
		}
		re := base64.RawURLEncoding.EncodeToString(got)
		if back, err := DecodeBase64("f", re); err != nil || !bytes.Equal(back, got) {
			t.Fatalf("round trip of %q failed", s)
		}
	})
}
