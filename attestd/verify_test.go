package attestd

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/sgx"
	"github.com/sgxops/sgxops/sim"
)

// TestRequestCacheKeyIsBounded: the PCK collateral-request cache is
// filled before the quote is verified, from certification data anyone can
// vary (the quote signature does not cover it; padding is tolerated). Its
// keys must not retain that data, or anonymous requests pin up to
// maxRequestCache × 64 KiB.
func TestRequestCacheKeyIsBounded(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	id := identity("cachekey")
	e.release("cachekey", "v1", id, false)
	q, err := sgx.ParseQuote(e.quote(id, nil))
	if err != nil {
		t.Fatal(err)
	}
	orig := q.Signature.CertData.Data
	const variants, pad = 8, 16 << 10
	for i := range variants {
		q.Signature.CertData.Data = append(bytes.Clone(orig), bytes.Repeat([]byte("\n"), pad+i)...)
		b := q.Marshal()
		// Padded chains still verify: the cache sees attacker-chosen bytes.
		mustStatus(t, e.attest(b, nil, ""), http.StatusOK)
	}
	d := e.srv.verifier.(*DCAPVerifier)
	n, retained := 0, 0
	d.requests.Range(func(k, _ any) bool {
		n++
		retained += len(k.(string))
		return true
	})
	if n == 0 {
		t.Fatal("request cache is empty")
	}
	if retained > n*64 {
		t.Fatalf("request cache keys retain %d bytes for %d entries: certification data is kept verbatim", retained, n)
	}
}

// TestNoCollateralFetchForUntrustedChain: the FMSPC that selects the
// collateral comes from the quote's PCK certificate. A certificate that does
// not chain to a trusted root must not make attestd fetch collateral:
// otherwise anyone can drive uncached upstream (Intel PCS) requests for
// made-up FMSPCs with every anonymous attestation.
func TestNoCollateralFetchForUntrustedChain(t *testing.T) {
	var upstream atomic.Int32
	e := newTestEnv(t, envOpts{cfg: func(c *config.Config) {
		target, err := url.Parse(c.Collateral.PCS)
		if err != nil {
			t.Fatal(err)
		}
		proxy := httputil.NewSingleHostReverseProxy(target)
		counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			upstream.Add(1)
			proxy.ServeHTTP(w, r)
		}))
		t.Cleanup(counting.Close)
		c.Collateral.PCS = counting.URL
	}})
	id := identity("untrusted")
	e.release("untrusted", "v1", id, false)
	// A platform whose root attestd does not trust, with an FMSPC the
	// collateral service does not know.
	rogue, err := sim.New([]byte("review: rogue platform"), sim.Config{FMSPC: [6]byte{0xde, 0xad, 0xbe, 0xef, 0, 1}}, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, err := rogue.Quote(id, [64]byte{})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if r := e.attest(q, nil, ""); r.status != http.StatusBadRequest || r.errorCode(t) != CodeInvalidQuote {
			t.Fatalf("untrusted PCK chain: %d %s", r.status, r.body)
		}
	}
	if n := upstream.Load(); n != 0 {
		t.Fatalf("%d upstream collateral requests for quotes whose PCK chain is not trusted", n)
	}
	// The trusted platform still attests (and fetches its collateral).
	e.attest(e.quote(id, nil), nil, "").token(t)
	if upstream.Load() == 0 {
		t.Fatal("no collateral fetched for the trusted platform: the counter does not see upstream requests")
	}
}
