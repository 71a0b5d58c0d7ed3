package dcap

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/sgxops/sgxops/sgx"
)

// TestAttestationKeyNotOnCurve: an attestation key that is not a P-256
// point is refused even when the QE report binds it and is correctly signed.
func TestAttestationKeyNotOnCurve(t *testing.T) {
	c := caseByID(t, "phala-sgx")
	q, coll := loadQuote(t, c.Quote), loadBundle(t, c.Collateral)
	p := newTestPKI(t, realLeaf(t, q), time.Unix(c.Now, 0))
	q, coll = p.rebuild(q, coll)
	opts := Options{Roots: p.pool, Now: at(c.Now)}
	var one [64]byte
	one[31], one[63] = 1, 1
	var big0 [64]byte
	for i := range big0 {
		big0[i] = 0xff
	}
	for name, key := range map[string][64]byte{"zero (identity)": {}, "(1,1)": one, "coordinates >= p": big0} {
		q2 := p.resign(q, func(q *sgx.Quote) {
			q.Signature.AttestationKey = key
			h := sha256.New()
			h.Write(key[:])
			h.Write(q.Signature.QEAuthData)
			q.Signature.QEReport.ReportData = [64]byte{}
			copy(q.Signature.QEReport.ReportData[:], h.Sum(nil))
		})
		vd, err := Verify(q2, coll, opts)
		if vd != nil || !errors.Is(err, ErrSignatureInvalid) {
			t.Errorf("%s: verdict %v, err %v", name, vd != nil, err)
		}
	}
}

// TestCacheKeysAreFixedSize: cache keys are digests, so a chain padded by an
// attacker (the quote signature does not cover certification data) cannot pin
// memory in proportion to its size.
func TestCacheKeysAreFixedSize(t *testing.T) {
	c := caseByID(t, "phala-sgx")
	q, coll := loadQuote(t, c.Quote), loadBundle(t, c.Collateral)
	q.Signature.CertData.Data = append(bytes.Repeat([]byte("\n"), 32<<10), q.Signature.CertData.Data...)
	v := NewVerifier(Options{Now: at(c.Now)})
	if _, err := v.Verify(q, coll); err != nil {
		t.Fatalf("padded chain: %v", err)
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if len(v.chains) != 1 || len(v.colls) != 1 || len(v.signers) == 0 {
		t.Fatalf("cache sizes %d/%d/%d", len(v.chains), len(v.colls), len(v.signers))
	}
	for k := range v.chains {
		if len(k) != 32 {
			t.Errorf("chain key is %d bytes", len(k))
		}
	}
	for k := range v.signers {
		if len(k) != 32 {
			t.Errorf("signer key is %d bytes", len(k))
		}
	}
	for k := range v.colls {
		if len(k) != 32 {
			t.Errorf("collateral key is %d bytes", len(k))
		}
	}
}

// verifySteps are the steps of (*Verifier).Verify, in the order it calls them.
var verifySteps = []string{
	"trustedPCKChain", "trustedCollateral", "checkQuoteSignatures", "checkValidity",
	"checkRevocation", "checkTCBInfo", "matchQEIdentity", "evaluateTCB",
}

// TestVerifyStepsInOneOrder: Verify's body, its doc comment and
// docs/architecture.md name the same steps in the same order.
func TestVerifyStepsInOneOrder(t *testing.T) {
	src, err := os.ReadFile("verifier.go")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	i := strings.Index(s, "// Verify checks that q is an authentic quote")
	j := strings.Index(s, "func (v *Verifier) Verify(")
	k := strings.Index(s[j:], "\n}\n")
	if i < 0 || j < i || k < 0 {
		t.Fatal("Verify or its doc comment not found")
	}
	doc, body := s[i:j], s[j:j+k]
	arch, err := os.ReadFile("../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	a := string(arch)
	a = a[strings.Index(a, "## Verification"):]
	a = a[:strings.Index(a[3:], "\n## ")+3]
	for name, text := range map[string]string{"Verify's body": body, "Verify's doc comment": doc, "docs/architecture.md": a} {
		if got := stepOrder(text); !slices.Equal(got, verifySteps) {
			t.Errorf("%s lists %v, want %v", name, got, verifySteps)
		}
	}
}

// stepOrder returns the step names in the order of their first mention.
func stepOrder(text string) []string {
	type hit struct {
		at   int
		name string
	}
	var hits []hit
	for _, n := range verifySteps {
		if loc := regexp.MustCompile(`\b` + n + `\b`).FindStringIndex(text); loc != nil {
			hits = append(hits, hit{loc[0], n})
		}
	}
	slices.SortFunc(hits, func(a, b hit) int { return a.at - b.at })
	var out []string
	for _, h := range hits {
		out = append(out, h.name)
	}
	return out
}
