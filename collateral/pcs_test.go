package collateral_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/collateral/pcstest"
	"github.com/sgxops/sgxops/internal/corpus"
)

// sameCollateral compares two sets field by field (an absent PCK chain equals an
// empty one) and reports every difference.
func sameCollateral(t *testing.T, got, want *collateral.Collateral) {
	t.Helper()
	fields := []struct {
		name      string
		got, want []byte
	}{
		{"PCKCRLIssuerChain", got.PCKCRLIssuerChain, want.PCKCRLIssuerChain},
		{"RootCACRL", got.RootCACRL, want.RootCACRL},
		{"PCKCRL", got.PCKCRL, want.PCKCRL},
		{"TCBInfoIssuerChain", got.TCBInfoIssuerChain, want.TCBInfoIssuerChain},
		{"TCBInfo", got.TCBInfo, want.TCBInfo},
		{"TCBInfoSignature", got.TCBInfoSignature, want.TCBInfoSignature},
		{"QEIdentityIssuerChain", got.QEIdentityIssuerChain, want.QEIdentityIssuerChain},
		{"QEIdentity", got.QEIdentity, want.QEIdentity},
		{"QEIdentitySignature", got.QEIdentitySignature, want.QEIdentitySignature},
		{"PCKCertificateChain", got.PCKCertificateChain, want.PCKCertificateChain},
	}
	for _, f := range fields {
		if !bytes.Equal(f.got, f.want) {
			t.Errorf("%s differs: got %d bytes, want %d", f.name, len(f.got), len(f.want))
		}
	}
}

// servedSet is collateral served by a pcstest server for one request.
type servedSet struct {
	srv   *pcstest.Server
	req   collateral.Request
	paths pcstest.Paths
	want  *collateral.Collateral
}

// serveBundle serves a corpus bundle the way a PCCS would.
func serveBundle(t *testing.T, rel, tee, fmspc, ca string) *servedSet {
	t.Helper()
	c := readBundle(t, rel)
	srv := pcstest.NewServer()
	t.Cleanup(srv.Close)
	p := srv.ServeCollateral(tee, fmspc, ca, c)
	return &servedSet{srv: srv, req: collateral.Request{TEE: tee, FMSPC: fmspc, PCKCA: ca}, paths: p, want: c}
}

// rawSet is a set of real PCS response bodies from the corpus and the bundle
// that PROVENANCE.md says was cut out of them.
type rawSet struct {
	name, tee, fmspc, ca     string
	tcb, qe, pckCRL, rootCRL string
	bundle                   string
}

var rawSets = []rawSet{
	{"automata 0825 SGX", "sgx", "00606a000000", "platform",
		"automata/evm-0825/sgx_tcbinfov3_00606a000000.json", "automata/evm-0825/sgx_qeidentity_v4.json",
		"automata/evm-0825/platform_crl.der", "automata/solana/intel_root_ca_crl.der",
		"bundles/automata-evm-0825-sgx-00606a000000.json"},
	{"automata 1025 TDX", "tdx", "00806F050000", "platform",
		"automata/evm-1025/tcb_info.json", "automata/evm-1025/identity.json",
		"automata/evm-1025/pck_crl.der", "automata/solana/intel_root_ca_crl.der",
		"bundles/automata-evm-1025-tdx-00806f050000.json"},
	{"go-tdx-guest 2023 TDX", "tdx", "50806f000000", "platform",
		"go-tdx-guest/sample_tcbInfo_response", "go-tdx-guest/sample_qeIdentity_response",
		"go-tdx-guest/pckcrl", "go-tdx-guest/rootcrl.der",
		"bundles/go-tdx-guest-2023-tdx-50806f000000.json"},
	{"trustee 2025-10 TDX", "tdx", "00a06d080000", "platform",
		"trustee/tcbInfo.json", "trustee/enclaveIdentity.json",
		"automata/evm-1025/pck_crl.der", "automata/solana/intel_root_ca_crl.der",
		"bundles/trustee-2025-10-tdx-00a06d080000.json"},
}

// serveRaw serves the raw corpus responses of rs: bodies byte for byte as Intel
// served them, the CRLs as DER, chains from the bundle in Intel's headers.
func serveRaw(t *testing.T, rs rawSet) *servedSet {
	t.Helper()
	want := readBundle(t, rs.bundle)
	srv := pcstest.NewServer()
	t.Cleanup(srv.Close)
	p := pcstest.PathsFor(rs.tee, rs.fmspc, rs.ca)
	srv.Set(p.TCBInfo, pcstest.Response{
		Header: pcstest.ChainHeader(collateral.HeaderTCBInfoIssuerChain, want.TCBInfoIssuerChain),
		Body:   corpus.Read(t, rs.tcb),
	})
	srv.Set(p.QEIdentity, pcstest.Response{
		Header: pcstest.ChainHeader(collateral.HeaderEnclaveIdentityChain, want.QEIdentityIssuerChain),
		Body:   corpus.Read(t, rs.qe),
	})
	srv.Set(p.PCKCRL, pcstest.Response{
		Header: pcstest.ChainHeader(collateral.HeaderPCKCRLIssuerChain, want.PCKCRLIssuerChain),
		Body:   corpus.Read(t, rs.pckCRL),
	})
	srv.Set(p.RootCACRL, pcstest.Response{Body: corpus.Read(t, rs.rootCRL)})
	return &servedSet{srv: srv, req: collateral.Request{TEE: rs.tee, FMSPC: rs.fmspc, PCKCA: rs.ca}, paths: p, want: want}
}

func TestPCSFetchesCorpusCollateral(t *testing.T) {
	type tc struct {
		name string
		set  func(t *testing.T) *servedSet
	}
	tests := []tc{
		{"phala SGX bundle", func(t *testing.T) *servedSet {
			return serveBundle(t, "phala-dcap-qvl/sgx_quote_collateral.json", "sgx", "00a067110000", "processor")
		}},
		{"phala TDX bundle", func(t *testing.T) *servedSet {
			return serveBundle(t, "phala-dcap-qvl/tdx_quote_collateral.json", "tdx", "B0C06F000000", "platform")
		}},
		{"phala NEAR TDX bundle", func(t *testing.T) *servedSet {
			return serveBundle(t, "phala-dcap-qvl/near_quote_collateral.json", "tdx", "20a06f000000", "platform")
		}},
	}
	for _, rs := range rawSets {
		tests = append(tests, tc{"raw " + rs.name, func(t *testing.T) *servedSet { return serveRaw(t, rs) }})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.set(t)
			pcs := &collateral.PCS{BaseURL: s.srv.URL}
			got, err := pcs.Get(context.Background(), s.req)
			if err != nil {
				t.Fatal(err)
			}
			sameCollateral(t, got, s.want)
			// Fetched → bundle file → parsed again: still byte-identical.
			out, err := got.MarshalBundle()
			if err != nil {
				t.Fatal(err)
			}
			again, err := collateral.ParseBundle(out)
			if err != nil {
				t.Fatal(err)
			}
			sameCollateral(t, again, s.want)
			for _, p := range []string{s.paths.TCBInfo, s.paths.QEIdentity, s.paths.PCKCRL, s.paths.RootCACRL} {
				if n := s.srv.Hits(p); n != 1 {
					t.Errorf("%s requested %d times, want 1", p, n)
				}
			}
		})
	}
}

func TestPCSRootCACRLEncodings(t *testing.T) {
	s := serveBundle(t, "phala-dcap-qvl/sgx_quote_collateral.json", "sgx", "00a067110000", "processor")
	der := s.want.RootCACRL
	for name, body := range map[string][]byte{
		"DER":    der,
		"PEM":    pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}),
		"hex":    []byte(hex.EncodeToString(der)),
		"0x-HEX": []byte("0x" + strings.ToUpper(hex.EncodeToString(der)) + "\n"),
	} {
		t.Run(name, func(t *testing.T) {
			s.srv.Set(s.paths.RootCACRL, pcstest.Response{Body: body})
			got, err := (&collateral.PCS{BaseURL: s.srv.URL}).Get(context.Background(), s.req)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.RootCACRL, der) {
				t.Error("root CA CRL differs")
			}
		})
	}
}

// selfSignedRoot makes a throwaway root certificate naming cdp as its CRL
// distribution point (generated here: the real Intel root names Intel's host).
func selfSignedRoot(t *testing.T, cdp string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "sgxops test root (generated)"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		CRLDistributionPoints: []string{"ldap://ignored.invalid/x", cdp},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestPCSRootCACRLFromDistributionPoint(t *testing.T) {
	s := serveBundle(t, "phala-dcap-qvl/sgx_quote_collateral.json", "sgx", "00a067110000", "processor")
	s.srv.Remove(s.paths.RootCACRL) // like Intel PCS: no rootcacrl endpoint
	const cdpPath = "/crl/root.der"
	// The PCK CA certificate, then a generated root in place of Intel's.
	intermediate := s.want.PCKCRLIssuerChain[:bytes.LastIndex(s.want.PCKCRLIssuerChain, []byte("-----BEGIN"))]
	chain := append(append([]byte(nil), intermediate...), selfSignedRoot(t, s.srv.URL+cdpPath)...)
	route, _ := s.srv.Route(s.paths.PCKCRL)
	route.Header = pcstest.ChainHeader(collateral.HeaderPCKCRLIssuerChain, chain)
	s.srv.Set(s.paths.PCKCRL, route)
	s.srv.Set(cdpPath, pcstest.Response{Body: s.want.RootCACRL})
	ctx := context.Background()

	got, err := (&collateral.PCS{BaseURL: s.srv.URL}).Get(ctx, s.req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.RootCACRL, s.want.RootCACRL) || s.srv.Hits(cdpPath) != 1 || s.srv.Hits(s.paths.RootCACRL) != 1 {
		t.Errorf("root CA CRL not taken from the distribution point (hits: rootcacrl %d, cdp %d)",
			s.srv.Hits(s.paths.RootCACRL), s.srv.Hits(cdpPath))
	}

	_, err = (&collateral.PCS{BaseURL: s.srv.URL, DisableCRLDistributionPoint: true}).Get(ctx, s.req)
	var fe *collateral.FetchError
	if !errors.As(err, &fe) || !errors.Is(err, collateral.ErrUnavailable) || fe.Status != http.StatusNotFound {
		t.Errorf("with the fallback disabled: err = %v, want ErrUnavailable with status 404", err)
	}

	before := s.srv.Hits(s.paths.RootCACRL)
	got, err = (&collateral.PCS{BaseURL: s.srv.URL, RootCACRLURL: s.srv.URL + cdpPath}).Get(ctx, s.req)
	if err != nil || !bytes.Equal(got.RootCACRL, s.want.RootCACRL) || s.srv.Hits(s.paths.RootCACRL) != before {
		t.Errorf("RootCACRLURL not used directly: %v", err)
	}

	// Without a distribution point in the chain the 404 stands.
	route.Header = pcstest.ChainHeader(collateral.HeaderPCKCRLIssuerChain, intermediate)
	s.srv.Set(s.paths.PCKCRL, route)
	if _, err := (&collateral.PCS{BaseURL: s.srv.URL}).Get(ctx, s.req); !errors.Is(err, collateral.ErrUnavailable) || !strings.Contains(err.Error(), "distribution point") {
		t.Errorf("chain without root: err = %v", err)
	}
}

func TestPCSRejectsBadResponses(t *testing.T) {
	tdx := readBundle(t, "phala-dcap-qvl/tdx_quote_collateral.json")
	other := readBundle(t, "bundles/automata-evm-0825-sgx-00606a000000.json")
	sig := hex.EncodeToString(make([]byte, 64))
	type edit func(s *servedSet)
	set := func(path string, f func(r *pcstest.Response)) edit {
		return func(s *servedSet) {
			target := map[string]string{"tcb": s.paths.TCBInfo, "qe": s.paths.QEIdentity, "pck": s.paths.PCKCRL, "root": s.paths.RootCACRL}[path]
			r, _ := s.srv.Route(target)
			f(&r)
			s.srv.Set(target, r)
		}
	}
	tests := []struct {
		name   string
		edit   edit
		kind   error
		status int
		field  string
		path   string // in the error's URL
	}{
		{"TCB Info 404", set("tcb", func(r *pcstest.Response) { r.Status = 404 }), collateral.ErrUnavailable, 404, "", "/tcb?fmspc="},
		{"QE Identity 500", set("qe", func(r *pcstest.Response) { r.Status = 500 }), collateral.ErrUnavailable, 500, "", "/qe/identity"},
		{"PCK CRL 503", set("pck", func(r *pcstest.Response) { r.Status = 503 }), collateral.ErrUnavailable, 503, "", "/pckcrl?ca=processor"},
		{"root CA CRL 500 (no fallback)", set("root", func(r *pcstest.Response) { r.Status = 500 }), collateral.ErrUnavailable, 500, "", "/rootcacrl"},
		{"TCB Info chain header missing", set("tcb", func(r *pcstest.Response) { r.Header = nil }), collateral.ErrInvalid, 0, collateral.HeaderTCBInfoIssuerChain, "/tcb"},
		{"QE Identity chain header missing", set("qe", func(r *pcstest.Response) { r.Header = nil }), collateral.ErrInvalid, 0, collateral.HeaderEnclaveIdentityChain, "/qe/identity"},
		{"PCK CRL chain header missing", set("pck", func(r *pcstest.Response) { r.Header = nil }), collateral.ErrInvalid, 0, collateral.HeaderPCKCRLIssuerChain, "/pckcrl"},
		{"TCB Info chain not PEM", set("tcb", func(r *pcstest.Response) {
			r.Header = http.Header{collateral.HeaderTCBInfoIssuerChain: {"not%20a%20chain"}}
		}), collateral.ErrInvalid, 0, collateral.HeaderTCBInfoIssuerChain, "/tcb"},
		{"TCB Info malformed JSON", set("tcb", func(r *pcstest.Response) { r.Body = r.Body[:len(r.Body)/2] }), collateral.ErrInvalid, 0, "tcbInfo", "/tcb"},
		{"TCB Info HTML error page", set("tcb", func(r *pcstest.Response) { r.Body = []byte("<html>busy</html>") }), collateral.ErrInvalid, 0, "body", "/tcb"},
		{"TCB Info signature not hex", set("tcb", func(r *pcstest.Response) {
			r.Body = bytes.Replace(r.Body, []byte(`"signature":"9a`), []byte(`"signature":"zz`), 1)
		}), collateral.ErrInvalid, 0, "signature", "/tcb"},
		{"QE Identity signature missing", set("qe", func(r *pcstest.Response) {
			r.Body = pcstest.SignedResponse("enclaveIdentity", []byte(`{"id":"QE"}`), nil)[:len(`{"enclaveIdentity":{"id":"QE"}`)]
			r.Body = append(r.Body, '}')
		}), collateral.ErrInvalid, 0, "signature", "/qe/identity"},
		{"TCB Info for another FMSPC", set("tcb", func(r *pcstest.Response) {
			r.Body = pcstest.SignedResponse("tcbInfo", other.TCBInfo, other.TCBInfoSignature)
		}), collateral.ErrInvalid, 0, "tcbInfo", "/tcb"},
		{"TDX TCB Info on the SGX path", set("tcb", func(r *pcstest.Response) {
			r.Body = pcstest.SignedResponse("tcbInfo", tdx.TCBInfo, tdx.TCBInfoSignature)
		}), collateral.ErrInvalid, 0, "tcbInfo", "/tcb"},
		{"TCB Info without nextUpdate", set("tcb", func(r *pcstest.Response) {
			r.Body = []byte(`{"tcbInfo":{"id":"SGX","version":3,"fmspc":"00a067110000"},"signature":"` + sig + `"}`)
		}), collateral.ErrInvalid, 0, "tcbInfo", "/tcb"},
		{"TD_QE identity on the SGX path", set("qe", func(r *pcstest.Response) {
			r.Body = pcstest.SignedResponse("enclaveIdentity", tdx.QEIdentity, tdx.QEIdentitySignature)
		}), collateral.ErrInvalid, 0, "enclaveIdentity.id", "/qe/identity"},
		{"PCK CRL not a CRL", set("pck", func(r *pcstest.Response) { r.Body = []byte("hello") }), collateral.ErrInvalid, 0, "body", "/pckcrl"},
		{"root CA CRL truncated", set("root", func(r *pcstest.Response) { r.Body = r.Body[:40] }), collateral.ErrInvalid, 0, "body", "/rootcacrl"},
		{"PCK CRL too large", set("pck", func(r *pcstest.Response) { r.Body = make([]byte, collateral.MaxResponseSize+1) }), collateral.ErrInvalid, 200, "body", "/pckcrl"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := serveBundle(t, "phala-dcap-qvl/sgx_quote_collateral.json", "sgx", "00a067110000", "processor")
			tc.edit(s)
			got, err := (&collateral.PCS{BaseURL: s.srv.URL}).Get(context.Background(), s.req)
			if got != nil {
				t.Error("collateral returned with an error")
			}
			var fe *collateral.FetchError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want *FetchError", err)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("err = %v, want it to wrap %v", err, tc.kind)
			}
			if fe.Status != tc.status || fe.Field != tc.field || !strings.Contains(fe.URL, tc.path) {
				t.Errorf("got status %d field %q URL %q, want %d %q ...%s...", fe.Status, fe.Field, fe.URL, tc.status, tc.field, tc.path)
			}
			if !strings.HasPrefix(err.Error(), "collateral: ") {
				t.Errorf("message %q lacks the package prefix", err)
			}
		})
	}
}

func TestPCSReportsIntelErrorHeaders(t *testing.T) {
	s := serveBundle(t, "phala-dcap-qvl/sgx_quote_collateral.json", "sgx", "00a067110000", "processor")
	s.srv.Set(s.paths.TCBInfo, pcstest.Response{Status: 404, Header: http.Header{
		"Error-Code": {"NotFound"}, "Error-Message": {"No TCB Info for FMSPC"},
	}})
	_, err := (&collateral.PCS{BaseURL: s.srv.URL}).Get(context.Background(), s.req)
	if !errors.Is(err, collateral.ErrUnavailable) || !strings.Contains(err.Error(), `"No TCB Info for FMSPC"`) || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("err = %v", err)
	}
}

func TestPCSTimeouts(t *testing.T) {
	s := serveBundle(t, "phala-dcap-qvl/sgx_quote_collateral.json", "sgx", "00a067110000", "processor")
	route, _ := s.srv.Route(s.paths.QEIdentity)
	route.Delay = 10 * time.Second
	s.srv.Set(s.paths.QEIdentity, route)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := (&collateral.PCS{BaseURL: s.srv.URL}).Get(ctx, s.req)
	if !errors.Is(err, collateral.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("context deadline: err = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("Get took %v despite the deadline", time.Since(start))
	}

	_, err = (&collateral.PCS{BaseURL: s.srv.URL, Client: &http.Client{Timeout: 100 * time.Millisecond}}).Get(context.Background(), s.req)
	if !errors.Is(err, collateral.ErrUnavailable) || !strings.Contains(err.Error(), "/qe/identity") {
		t.Errorf("client timeout: err = %v", err)
	}
}

func TestPCSBaseURL(t *testing.T) {
	s := serveBundle(t, "phala-dcap-qvl/sgx_quote_collateral.json", "sgx", "00a067110000", "processor")
	for _, base := range []string{s.srv.URL + "/", s.srv.URL + "/sgx/certification/v4/", s.srv.URL + "/tdx/certification/v4"} {
		if _, err := (&collateral.PCS{BaseURL: base}).Get(context.Background(), s.req); err != nil {
			t.Errorf("BaseURL %q: %v", base, err)
		}
	}
	for _, base := range []string{"", "ftp://pcs.invalid", "http://", "https://pcs.invalid/?x=1", "://"} {
		_, err := (&collateral.PCS{BaseURL: base}).Get(context.Background(), s.req)
		var fe *collateral.FetchError
		if !errors.As(err, &fe) || fe.Field != "BaseURL" || !errors.Is(err, collateral.ErrUnavailable) {
			t.Errorf("BaseURL %q: err = %v, want a BaseURL error", base, err)
		}
	}
	before := s.srv.TotalHits()
	if _, err := (&collateral.PCS{BaseURL: s.srv.URL}).Get(context.Background(), collateral.Request{TEE: "sgx", FMSPC: "00a0671100", PCKCA: "processor"}); !errors.As(err, new(*collateral.RequestError)) {
		t.Errorf("invalid request: err = %v", err)
	}
	if s.srv.TotalHits() != before {
		t.Error("an invalid request reached the server")
	}
}

func TestPCSAPIKey(t *testing.T) {
	const key = "k-0123456789"
	s := serveBundle(t, "phala-dcap-qvl/sgx_quote_collateral.json", "sgx", "00a067110000", "processor")
	other := pcstest.NewServer() // another host:port
	defer other.Close()
	other.ServeCollateral("sgx", "00a067110000", "processor", s.want)
	s.srv.Set(s.paths.TCBInfo, pcstest.Response{Status: http.StatusFound, Header: http.Header{"Location": {other.URL + s.paths.TCBInfo}}})

	got, err := (&collateral.PCS{BaseURL: s.srv.URL, APIKey: key}).Get(context.Background(), s.req)
	if err != nil {
		t.Fatal(err)
	}
	sameCollateral(t, got, s.want)
	if h := s.srv.LastHeader(s.paths.QEIdentity).Get(collateral.HeaderSubscriptionKey); h != key {
		t.Errorf("key header = %q, want the key", h)
	}
	if h := other.LastHeader(s.paths.TCBInfo); h == nil || h.Get(collateral.HeaderSubscriptionKey) != "" {
		t.Errorf("key forwarded on a redirect to another host (headers %v)", h)
	}

	s.srv.Set(s.paths.QEIdentity, pcstest.Response{Status: 401})
	_, err = (&collateral.PCS{BaseURL: s.srv.URL, APIKey: key}).Get(context.Background(), s.req)
	if err == nil || strings.Contains(err.Error(), key) {
		t.Errorf("err = %v: want an error that does not show the key", err)
	}
	if h := (&collateral.PCS{BaseURL: s.srv.URL}); h.APIKey == "" {
		_, _ = h.Get(context.Background(), s.req)
		if s.srv.LastHeader(s.paths.QEIdentity).Get(collateral.HeaderSubscriptionKey) != "" {
			t.Error("key header sent without a key")
		}
	}
}

func TestPCSAcceptsAlternativeEncodings(t *testing.T) {
	s := serveBundle(t, "phala-dcap-qvl/sgx_quote_collateral.json", "sgx", "00a067110000", "processor")
	// The PCS v3 header name, with form-style encoding (spaces as '+').
	route, _ := s.srv.Route(s.paths.TCBInfo)
	route.Header = http.Header{collateral.HeaderTCBInfoIssuerChainV3: {formEscape(string(s.want.TCBInfoIssuerChain))}}
	s.srv.Set(s.paths.TCBInfo, route)
	got, err := (&collateral.PCS{BaseURL: s.srv.URL}).Get(context.Background(), s.req)
	if err != nil {
		t.Fatal(err)
	}
	sameCollateral(t, got, s.want)
}

func formEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ':
			b.WriteByte('+')
		case 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-':
			b.WriteByte(c)
		default:
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

type otherTransport struct{}

func (otherTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("unused")
}

func TestPCCSInsecureSkipTLSVerify(t *testing.T) {
	c := readBundle(t, "phala-dcap-qvl/tdx_quote_collateral.json")
	srv := pcstest.NewTLSServer() // self-signed, like a default PCCS install
	defer srv.Close()
	srv.ServeCollateral("tdx", "b0c06f000000", "platform", c)
	req := collateral.Request{TEE: "tdx", FMSPC: "b0c06f000000", PCKCA: "platform"}

	_, err := (&collateral.PCCS{BaseURL: srv.URL}).Get(context.Background(), req)
	if !errors.Is(err, collateral.ErrUnavailable) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("self-signed PCCS accepted without the insecure option: %v", err)
	}
	got, err := (&collateral.PCCS{BaseURL: srv.URL, InsecureSkipTLSVerify: true}).Get(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	sameCollateral(t, got, c)
	// The caller's client is not modified.
	mine := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	if _, err := (&collateral.PCCS{BaseURL: srv.URL, Client: mine, InsecureSkipTLSVerify: true}).Get(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if tc := mine.Transport.(*http.Transport).TLSClientConfig; tc != nil && tc.InsecureSkipVerify {
		t.Error("PCCS altered the caller's transport")
	}
	_, err = (&collateral.PCCS{BaseURL: srv.URL, Client: &http.Client{Transport: otherTransport{}}, InsecureSkipTLSVerify: true}).Get(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "InsecureSkipTLSVerify") {
		t.Errorf("custom transport with the insecure option: err = %v", err)
	}
}

func TestTHIMFallback(t *testing.T) {
	current := readBundle(t, "phala-dcap-qvl/sgx_quote_collateral.json") // TCB Info 2025-06-19..07-19
	req := collateral.Request{TEE: "sgx", FMSPC: "00a067110000", PCKCA: "processor"}
	// THIM serves an older, real TCB Info for the same FMSPC (2025-05-05..06-04).
	old, oldSig, err := splitResponse(corpus.Read(t, "automata/solana/tcb_info_v3_sgx.json"))
	if err != nil {
		t.Fatal(err)
	}
	thim := pcstest.NewServer()
	defer thim.Close()
	p := thim.ServeCollateral("sgx", "00a067110000", "processor", current)
	thim.Set(p.TCBInfo, pcstest.Response{
		Header: pcstest.ChainHeader(collateral.HeaderTCBInfoIssuerChain, current.TCBInfoIssuerChain),
		Body:   pcstest.SignedResponse("tcbInfo", old, oldSig),
	})
	fallback := &collateral.Bundle{Collateral: current}
	at := func(s string) func() time.Time {
		ts, _ := time.Parse(time.RFC3339, s)
		return func() time.Time { return ts }
	}

	got, err := (&collateral.THIM{BaseURL: thim.URL, Fallback: fallback, Now: at("2025-05-20T00:00:00Z")}).Get(context.Background(), req)
	if err != nil || !bytes.Equal(got.TCBInfo, old) {
		t.Fatalf("fresh THIM answer not kept: %v", err)
	}
	got, err = (&collateral.THIM{BaseURL: thim.URL, Fallback: fallback, Now: at("2025-06-25T00:00:00Z")}).Get(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	sameCollateral(t, got, current)
	got, err = (&collateral.THIM{BaseURL: thim.URL, Now: at("2025-06-25T00:00:00Z")}).Get(context.Background(), req)
	if err != nil || !bytes.Equal(got.TCBInfo, old) {
		t.Fatalf("without a fallback THIM's answer is returned as is: %v", err)
	}

	thim.Set(p.QEIdentity, pcstest.Response{Status: 503})
	got, err = (&collateral.THIM{BaseURL: thim.URL, Fallback: fallback}).Get(context.Background(), req)
	if err != nil {
		t.Fatalf("THIM down, fallback up: %v", err)
	}
	sameCollateral(t, got, current)
	_, err = (&collateral.THIM{BaseURL: thim.URL, Fallback: &collateral.Bundle{}}).Get(context.Background(), req)
	if !errors.Is(err, collateral.ErrUnavailable) {
		t.Errorf("both down: err = %v", err)
	}
}

// splitResponse cuts a PCS TCB Info response at the documented boundaries,
// independently of the package's parser.
func splitResponse(resp []byte) (body, sig []byte, err error) {
	const head, mid = `{"tcbInfo":`, `,"signature":"`
	i := bytes.LastIndex(resp, []byte(mid))
	if !bytes.HasPrefix(resp, []byte(head)) || i < 0 {
		return nil, nil, errors.New("not a TCB Info response")
	}
	rest := bytes.TrimRight(resp[i+len(mid):], "\"}\n")
	sig, err = hex.DecodeString(string(rest))
	return resp[len(head):i], sig, err
}
