package sim

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/sgxops/sgxops/collateral"
)

func get(t *testing.T, srv *httptest.Server, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// chainHeader decodes an issuer chain header the way both query and path
// unescaping would, and checks they agree.
func chainHeader(t *testing.T, resp *http.Response, name string) []byte {
	t.Helper()
	v := resp.Header.Get(name)
	if v == "" {
		t.Fatalf("response has no %s header", name)
	}
	q, err := url.QueryUnescape(v)
	if err != nil {
		t.Fatal(err)
	}
	p, err := url.PathUnescape(v)
	if err != nil || p != q {
		t.Fatalf("%s decodes differently as query (%v) and path", name, err)
	}
	return []byte(q)
}

func TestPCSServerPaths(t *testing.T) {
	p := newTestPlatform(t, "pcs", Config{PCKRevoked: true})
	srv := httptest.NewServer(NewPCSServer(p))
	defer srv.Close()
	fmspc := p.Request(TEESGX).FMSPC

	for _, tc := range []struct {
		path, header, key, ctype string
		want                     func() (Signed, error)
	}{
		{"/sgx/certification/v4/tcb?fmspc=" + fmspc, HeaderTCBInfoIssuerChain, "tcbInfo", "application/json", func() (Signed, error) { return p.TCBInfo(TEESGX) }},
		{"/tdx/certification/v4/tcb?fmspc=" + fmspc, HeaderTCBInfoIssuerChain, "tcbInfo", "application/json", func() (Signed, error) { return p.TCBInfo(TEETDX) }},
		{"/sgx/certification/v4/qe/identity", HeaderQEIdentityIssuerChain, "enclaveIdentity", "application/json", func() (Signed, error) { return p.QEIdentity(TEESGX) }},
		{"/tdx/certification/v4/qe/identity", HeaderQEIdentityIssuerChain, "enclaveIdentity", "application/json", func() (Signed, error) { return p.QEIdentity(TEETDX) }},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := get(t, srv, tc.path)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.ctype || resp.Header.Get(HeaderSimulated) != "true" {
				t.Fatalf("status %d, type %q, simulated %q", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get(HeaderSimulated))
			}
			if !bytes.Equal(chainHeader(t, resp, tc.header), p.TCBSigningChainPEM()) {
				t.Error("issuer chain header is not the TCB Signing chain")
			}
			var env map[string]json.RawMessage
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatal(err)
			}
			want, err := tc.want()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(env[tc.key], want.Body) {
				t.Errorf("%s is not the exact signed body", tc.key)
			}
			if string(env["signature"]) != `"`+hex.EncodeToString(want.Signature)+`"` {
				t.Errorf("signature %s", env["signature"])
			}
		})
	}

	t.Run("pckcrl", func(t *testing.T) {
		for _, ca := range []CA{CAProcessor, CAPlatform} {
			resp, body := get(t, srv, "/sgx/certification/v4/pckcrl?ca="+string(ca)+"&encoding=der")
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pkix-crl" {
				t.Fatalf("status %d type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if !bytes.Equal(chainHeader(t, resp, HeaderPCKCRLIssuerChain), p.PCKCRLIssuerChainPEM(ca)) {
				t.Errorf("%s CRL issuer chain header wrong", ca)
			}
			rl, err := x509.ParseRevocationList(body)
			if err != nil {
				t.Fatal(err)
			}
			if err := rl.CheckSignatureFrom(p.certs.pckCA(ca)); err != nil {
				t.Errorf("%s CRL: %v", ca, err)
			}
		}
		resp, body := get(t, srv, "/sgx/certification/v4/pckcrl?ca=processor")
		if blk, _ := pem.Decode(body); resp.Header.Get("Content-Type") != "application/x-pem-file" || blk == nil || blk.Type != "X509 CRL" {
			t.Errorf("default encoding is not PEM: %q", resp.Header.Get("Content-Type"))
		}
	})
	t.Run("rootcacrl", func(t *testing.T) {
		resp, body := get(t, srv, "/sgx/certification/v4/rootcacrl")
		rl, err := x509.ParseRevocationList(body)
		if resp.StatusCode != 200 || err != nil {
			t.Fatalf("status %d: %v", resp.StatusCode, err)
		}
		if err := rl.CheckSignatureFrom(p.RootCertificate()); err != nil {
			t.Error(err)
		}
	})
	for _, tc := range []struct {
		path string
		code int
	}{
		{"/sgx/certification/v4/tcb", 400},
		{"/sgx/certification/v4/tcb?fmspc=zz", 400},
		{"/sgx/certification/v4/tcb?fmspc=00606a000000", 404},
		{"/sgx/certification/v4/pckcrl?ca=other", 400},
		{"/sgx/certification/v4/pckcrl?ca=processor&encoding=base64", 400},
		{"/sgx/certification/v4/pckcert", 404},
	} {
		if resp, _ := get(t, srv, tc.path); resp.StatusCode != tc.code {
			t.Errorf("GET %s: status %d, want %d", tc.path, resp.StatusCode, tc.code)
		}
	}
	resp, err := srv.Client().Post(srv.URL+"/sgx/certification/v4/qe/identity", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d", resp.StatusCode)
	}
}

// TestPCSClientAgainstServer runs the project's PCS client, unchanged, against
// the simulated PCS: it must get exactly the collateral the platform issues.
func TestPCSClientAgainstServer(t *testing.T) {
	for _, ca := range []CA{CAProcessor, CAPlatform} {
		p := newTestPlatform(t, "client", Config{PCKCA: ca})
		srv := httptest.NewServer(NewPCSServer(p))
		for _, tee := range []TEE{TEESGX, TEETDX} {
			src := &collateral.PCS{BaseURL: srv.URL, Client: srv.Client()}
			got, err := src.Get(context.Background(), p.Request(tee))
			if err != nil {
				t.Fatalf("%s %s: %v", ca, tee, err)
			}
			want, err := p.Collateral(p.Request(tee))
			if err != nil {
				t.Fatal(err)
			}
			gb, _ := got.MarshalBundle()
			wb, _ := want.MarshalBundle()
			if !bytes.Equal(gb, wb) {
				t.Errorf("%s %s: PCS client got other collateral than the platform issues", ca, tee)
			}
		}
		other := p.Request(TEESGX)
		other.FMSPC = "00606a000000"
		_, err := (&collateral.PCS{BaseURL: srv.URL, Client: srv.Client()}).Get(context.Background(), other)
		if !errors.Is(err, collateral.ErrUnavailable) {
			t.Errorf("unknown FMSPC: %v, want ErrUnavailable", err)
		}
		if _, err := p.Get(context.Background(), other); !errors.Is(err, collateral.ErrUnavailable) {
			t.Errorf("in-process unknown FMSPC: %v, want ErrUnavailable", err)
		}
		srv.Close()
	}
}
