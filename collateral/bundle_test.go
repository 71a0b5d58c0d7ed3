package collateral_test

import (
	"context"
	"errors"
	"os"
	"path"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/internal/corpus"
)

// corpusBundles lists every collateral bundle of the corpus (relative paths).
func corpusBundles(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir(corpus.Path(t, "bundles"))
	if err != nil {
		t.Fatal(err)
	}
	out := []string{
		"phala-dcap-qvl/sgx_quote_collateral.json",
		"phala-dcap-qvl/tdx_quote_collateral.json",
		"phala-dcap-qvl/tdx_quote_outdated_collateral.json",
		"phala-dcap-qvl/near_quote_collateral.json",
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".json") {
			out = append(out, "bundles/"+e.Name())
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d bundles found in the corpus", len(out))
	}
	return out
}

var bundleName = regexp.MustCompile(`-(sgx|tdx)-([0-9a-f]{12})\b`)

func readBundle(t testing.TB, rel string) *collateral.Collateral {
	t.Helper()
	c, err := collateral.ParseBundle(corpus.Read(t, rel))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return c
}

func TestBundleRoundTripAllCorpusBundles(t *testing.T) {
	for _, rel := range corpusBundles(t) {
		t.Run(rel, func(t *testing.T) {
			c := readBundle(t, rel)
			out, err := c.MarshalBundle()
			if err != nil {
				t.Fatal(err)
			}
			again, err := collateral.ParseBundle(out)
			if err != nil {
				t.Fatalf("re-parse: %v", err)
			}
			if !reflect.DeepEqual(c, again) {
				t.Error("ParseBundle(MarshalBundle(c)) != c")
			}
		})
	}
}

func TestSummarizeCorpusBundles(t *testing.T) {
	// Expected values read from the bundles with Python's json module and
	// openssl crl (PROVENANCE.md states the Phala windows' ends: 10:01:17 and
	// 10:00:34 are these minus one second).
	want := map[string]struct {
		tee, fmspc, ca string
		tcbVersion     int
		next           string
	}{
		"phala-dcap-qvl/sgx_quote_collateral.json":                  {"sgx", "00a067110000", "processor", 3, "2025-07-19T10:01:18Z"},
		"phala-dcap-qvl/tdx_quote_collateral.json":                  {"tdx", "b0c06f000000", "platform", 3, "2025-07-19T10:00:35Z"},
		"phala-dcap-qvl/near_quote_collateral.json":                 {"tdx", "20a06f000000", "platform", 3, "2025-10-02T07:03:51Z"},
		"bundles/automata-evm-0825-sgx-00606a000000.json":           {"sgx", "00606a000000", "platform", 3, "2025-09-14T04:36:46Z"},
		"bundles/automata-evm-0625-sgx-00606a000000-tcbinfov2.json": {"sgx", "00606a000000", "platform", 2, "2025-07-04T09:19:31Z"},
		"bundles/intel-qvl-synthetic-tdx.json":                      {"tdx", "ed742af8adf5", "processor", 3, "2031-08-04T13:55:15Z"},
	}
	for _, rel := range corpusBundles(t) {
		t.Run(rel, func(t *testing.T) {
			s, err := collateral.Summarize(readBundle(t, rel))
			if err != nil {
				t.Fatal(err)
			}
			// Derived bundles are mostly named ...-<tee>-<fmspc>[...].json.
			if m := bundleName.FindStringSubmatch(path.Base(rel)); m != nil && (m[1] != s.TEE || m[2] != s.FMSPC) {
				t.Errorf("summary says %s %s, the file name %s %s", s.TEE, s.FMSPC, m[1], m[2])
			}
			for _, w := range []collateral.Window{s.TCBInfo, s.QEIdentity, s.PCKCRL, s.RootCACRL} {
				if !w.IssueDate.Before(w.NextUpdate) {
					t.Errorf("window %v..%v is empty", w.IssueDate, w.NextUpdate)
				}
				if w.NextUpdate.Before(s.NextUpdate) {
					t.Errorf("NextUpdate %v is not the earliest (%v)", s.NextUpdate, w.NextUpdate)
				}
			}
			w, ok := want[rel]
			if !ok {
				return
			}
			next, _ := time.Parse(time.RFC3339, w.next)
			if s.TEE != w.tee || s.FMSPC != w.fmspc || s.PCKCA != w.ca || s.TCBInfoVersion != w.tcbVersion || !s.NextUpdate.Equal(next) {
				t.Errorf("got %s %s %s v%d next %v, want %s %s %s v%d next %v",
					s.TEE, s.FMSPC, s.PCKCA, s.TCBInfoVersion, s.NextUpdate, w.tee, w.fmspc, w.ca, w.tcbVersion, next)
			}
		})
	}
}

func TestSummarizeRejects(t *testing.T) {
	sgx := readBundle(t, "phala-dcap-qvl/sgx_quote_collateral.json")
	tdx := readBundle(t, "phala-dcap-qvl/tdx_quote_collateral.json")
	tests := []struct {
		name  string
		edit  func(c *collateral.Collateral)
		field string
	}{
		{"TD_QE identity with SGX TCB Info", func(c *collateral.Collateral) { c.QEIdentity = tdx.QEIdentity }, "qe_identity.id"},
		{"QE identity with TDX TCB Info", func(c *collateral.Collateral) { c.TCBInfo = tdx.TCBInfo }, "qe_identity.id"},
		{"tcb_info not JSON", func(c *collateral.Collateral) { c.TCBInfo = []byte("{") }, "tcb_info"},
		{"tcb_info empty", func(c *collateral.Collateral) { c.TCBInfo = nil }, "tcb_info"},
		{"tcb_info without nextUpdate", func(c *collateral.Collateral) {
			c.TCBInfo = []byte(`{"id":"SGX","version":3,"fmspc":"00a067110000"}`)
		}, "tcb_info"},
		{"unknown TCB Info id", func(c *collateral.Collateral) {
			c.TCBInfo = []byte(`{"id":"SEV","version":3,"fmspc":"00a067110000","nextUpdate":"2030-01-01T00:00:00Z"}`)
		}, "tcb_info.id"},
		{"bad fmspc", func(c *collateral.Collateral) {
			c.TCBInfo = []byte(`{"id":"SGX","version":3,"fmspc":"00a0671100","nextUpdate":"2030-01-01T00:00:00Z"}`)
		}, "tcb_info.fmspc"},
		{"qe_identity not JSON", func(c *collateral.Collateral) { c.QEIdentity = []byte("[]") }, "qe_identity"},
		{"pck_crl truncated", func(c *collateral.Collateral) { c.PCKCRL = c.PCKCRL[:10] }, "pck_crl"},
		{"root_ca_crl is the PCK CRL plus a byte", func(c *collateral.Collateral) { c.RootCACRL = append(c.PCKCRL, 0) }, "root_ca_crl"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := *sgx
			c.PCKCRL = append([]byte(nil), sgx.PCKCRL...)
			tc.edit(&c)
			_, err := collateral.Summarize(&c)
			var fe *collateral.FetchError
			if !errors.As(err, &fe) || !errors.Is(err, collateral.ErrInvalid) {
				t.Fatalf("err = %v, want FetchError wrapping ErrInvalid", err)
			}
			if fe.Field != tc.field {
				t.Errorf("field %q, want %q (%v)", fe.Field, tc.field, err)
			}
		})
	}
}

func TestBundleSource(t *testing.T) {
	c := readBundle(t, "phala-dcap-qvl/sgx_quote_collateral.json")
	src := &collateral.Bundle{Collateral: c}
	ctx := context.Background()

	got, err := src.Get(ctx, collateral.Request{TEE: "SGX", FMSPC: "00A067110000", PCKCA: "processor"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatal("Get returned other collateral than the bundle's")
	}
	got.TCBInfo[0] = 'X' // the caller's copy is its own
	if again, _ := src.Get(ctx, collateral.Request{TEE: "sgx", FMSPC: "00a067110000", PCKCA: "processor"}); again.TCBInfo[0] != '{' {
		t.Fatal("altering a returned set altered the bundle")
	}

	mismatches := []struct {
		name string
		req  collateral.Request
		want string
	}{
		{"other TEE", collateral.Request{TEE: "tdx", FMSPC: "00a067110000", PCKCA: "processor"}, "request is for tdx"},
		{"other FMSPC", collateral.Request{TEE: "sgx", FMSPC: "00606a000000", PCKCA: "processor"}, "FMSPC 00606a000000"},
		{"other PCK CA", collateral.Request{TEE: "sgx", FMSPC: "00a067110000", PCKCA: "platform"}, "processor CA"},
	}
	for _, tc := range mismatches {
		t.Run(tc.name, func(t *testing.T) {
			_, err := src.Get(ctx, tc.req)
			if !errors.Is(err, collateral.ErrUnavailable) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrUnavailable mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := src.Get(ctx, collateral.Request{TEE: "sgx", FMSPC: "xyz", PCKCA: "processor"}); !errors.As(err, new(*collateral.RequestError)) {
		t.Errorf("invalid request: err = %v, want *RequestError", err)
	}
	if _, err := (&collateral.Bundle{}).Get(ctx, collateral.Request{TEE: "sgx", FMSPC: "00a067110000", PCKCA: "processor"}); !errors.Is(err, collateral.ErrUnavailable) {
		t.Errorf("empty bundle: err = %v, want ErrUnavailable", err)
	}
}

func TestRequestNormalize(t *testing.T) {
	tests := []struct {
		in    collateral.Request
		want  collateral.Request
		field string // empty: valid
	}{
		{collateral.Request{TEE: "SGX", FMSPC: " 00A067110000 ", PCKCA: "Processor"}, collateral.Request{TEE: "sgx", FMSPC: "00a067110000", PCKCA: "processor"}, ""},
		{collateral.Request{TEE: "tdx", FMSPC: "b0c06f000000", PCKCA: "platform"}, collateral.Request{TEE: "tdx", FMSPC: "b0c06f000000", PCKCA: "platform"}, ""},
		{collateral.Request{TEE: "sev", FMSPC: "b0c06f000000", PCKCA: "platform"}, collateral.Request{}, "TEE"},
		{collateral.Request{TEE: "", FMSPC: "b0c06f000000", PCKCA: "platform"}, collateral.Request{}, "TEE"},
		{collateral.Request{TEE: "tdx", FMSPC: "b0c06f0000", PCKCA: "platform"}, collateral.Request{}, "FMSPC"},
		{collateral.Request{TEE: "tdx", FMSPC: "b0c06f00000g", PCKCA: "platform"}, collateral.Request{}, "FMSPC"},
		{collateral.Request{TEE: "tdx", FMSPC: "b0c06f000000", PCKCA: ""}, collateral.Request{}, "PCKCA"},
		{collateral.Request{TEE: "tdx", FMSPC: "b0c06f000000", PCKCA: "root"}, collateral.Request{}, "PCKCA"},
	}
	for _, tc := range tests {
		got, err := tc.in.Normalize()
		if tc.field == "" {
			if err != nil || got != tc.want || tc.in.Validate() != nil {
				t.Errorf("%+v: got %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			continue
		}
		var re *collateral.RequestError
		if !errors.As(err, &re) || re.Field != tc.field || tc.in.Validate() == nil {
			t.Errorf("%+v: err = %v, want RequestError on %s", tc.in, err, tc.field)
		}
	}
}

// FuzzParseBundle checks that ParseBundle never panics, that whatever it accepts
// survives MarshalBundle → ParseBundle unchanged, and that Summarize does not
// panic on it either.
func FuzzParseBundle(f *testing.F) {
	for _, rel := range corpusBundles(f) {
		f.Add(corpus.Read(f, rel))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := collateral.ParseBundle(b)
		if err != nil {
			return
		}
		out, err := c.MarshalBundle()
		if err != nil {
			t.Fatal(err)
		}
		again, err := collateral.ParseBundle(out)
		if err != nil {
			t.Fatalf("re-parse of an accepted bundle: %v", err)
		}
		if !reflect.DeepEqual(c, again) {
			t.Fatal("round trip changed the collateral")
		}
		if s, err := collateral.Summarize(c); err == nil && s.NextUpdate.IsZero() {
			t.Fatal("summary without NextUpdate")
		}
	})
}
