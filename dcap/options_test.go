package dcap

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

// TestRootPoolsCopied: NewVerifier copies the options, including the
// trust anchors. Adding a certificate to the caller's pool afterwards must not
// make the Verifier trust it (Options: "later changes by the caller have no
// effect"); otherwise a pool shared with other code silently widens trust.
func TestRootPoolsCopied(t *testing.T) {
	c := caseByID(t, "phala-sgx")
	q, coll := loadQuote(t, c.Quote), loadBundle(t, c.Collateral)
	p := newTestPKI(t, realLeaf(t, q), time.Unix(c.Now, 0))
	q2, coll2 := p.rebuild(q, coll)
	for name, mk := range map[string]func(pool *x509.CertPool) Options{
		"Roots":                   func(pool *x509.CertPool) Options { return Options{Roots: pool} },
		"InsecureSimulationRoots": func(pool *x509.CertPool) Options { return Options{InsecureSimulationRoots: pool} },
	} {
		pool := IntelSGXRootPool()
		opts := mk(pool)
		opts.Now = at(c.Now)
		v := NewVerifier(opts)
		pool.AddCert(p.root) // the caller's pool changes after NewVerifier
		if vd, err := v.Verify(q2, coll2); vd != nil || !errors.Is(err, ErrChainInvalid) {
			t.Errorf("%s: root added to the caller's pool after NewVerifier is trusted: verdict %v, err %v", name, vd != nil, err)
		}
		// The genuine quote still verifies.
		if _, err := v.Verify(q, coll); err != nil {
			t.Errorf("%s: genuine quote: %v", name, err)
		}
	}
}
