package dcap

import (
	"bytes"
	"crypto/elliptic"
	"errors"
	"testing"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/sgx"
)

// p256N is the order of the P-256 group.
var p256N = elliptic.P256().Params().N

// TestDegenerateSignatures replaces each of the four raw r‖s signatures
// by values that must never verify: zero, the group order, all ones.
func TestDegenerateSignatures(t *testing.T) {
	c := caseByID(t, "phala-sgx")
	q, coll := loadQuote(t, c.Quote), loadBundle(t, c.Collateral)
	opts := Options{Now: at(c.Now)}
	if _, err := Verify(q, coll, opts); err != nil {
		t.Fatal(err)
	}
	var n [32]byte
	p256N.FillBytes(n[:])
	sigs := map[string][]byte{
		"zero":        make([]byte, 64),
		"r=s=N":       append(n[:], n[:]...),
		"r=N, s ok":   append(n[:], q.Signature.Signature[32:]...),
		"all ones":    bytes.Repeat([]byte{0xff}, 64),
		"r=1, s=1":    append(append(make([]byte, 31), 1), append(make([]byte, 31), 1)...),
		"short (63)":  make([]byte, 63),
		"empty (nil)": nil,
	}
	targets := []struct {
		name string
		set  func(q *sgx.Quote, c *collateral.Collateral, sig []byte) bool // false: sig does not fit
	}{
		{"quote signature", func(q *sgx.Quote, _ *collateral.Collateral, s []byte) bool {
			return len(s) == 64 && copy(q.Signature.Signature[:], s) == 64
		}},
		{"QE report signature", func(q *sgx.Quote, _ *collateral.Collateral, s []byte) bool {
			return len(s) == 64 && copy(q.Signature.QEReportSignature[:], s) == 64
		}},
		{"TCB Info signature", func(_ *sgx.Quote, c *collateral.Collateral, s []byte) bool { c.TCBInfoSignature = s; return true }},
		{"QE Identity signature", func(_ *sgx.Quote, c *collateral.Collateral, s []byte) bool {
			c.QEIdentitySignature = s
			return true
		}},
	}
	v := NewVerifier(opts) // one verifier: a cached good collateral set must not answer for a bad one
	if _, err := v.Verify(q, coll); err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		for name, sig := range sigs {
			q2, c2 := *q, cloneCollateral(coll)
			if !tg.set(&q2, &c2, sig) {
				continue
			}
			vd, err := v.Verify(&q2, &c2)
			if vd != nil || !(errors.Is(err, ErrSignatureInvalid) || errors.Is(err, ErrCollateralUnavailable)) {
				t.Errorf("%s %s: verdict %v, err %v", tg.name, name, vd != nil, err)
			}
		}
	}
}
