package dcap

import (
	"errors"
	"testing"
	"time"

	"github.com/sgxops/sgxops/sgx"
)

// TestSEAMAttributesMustBeZero re-signs a real TDX quote with non-zero
// SEAMATTRIBUTES: Intel's QVL rejects any non-zero value (a debug or otherwise
// non-production TDX module) whatever the TCB Info mask, and so must we.
func TestSEAMAttributesMustBeZero(t *testing.T) {
	c := caseByID(t, "phala-tdx")
	q, coll := loadQuote(t, c.Quote), loadBundle(t, c.Collateral)
	p := newTestPKI(t, realLeaf(t, q), time.Unix(c.Now, 0))
	// A TCB Info whose module masks ignore SEAMATTRIBUTES: only the explicit
	// zero rule can reject.
	p.tcbInfoEdit = replaceAll(t, `"attributesMask":"FFFFFFFFFFFFFFFF"`, `"attributesMask":"0000000000000000"`)
	q, coll = p.rebuild(q, coll)
	opts := Options{Roots: p.pool, Now: at(c.Now)}

	if _, err := Verify(p.resign(q, nil), coll, opts); err != nil {
		t.Fatalf("baseline: %v", err)
	}
	for _, bit := range []int{0, 7, 63} {
		vd, err := Verify(p.resign(q, func(q *sgx.Quote) { q.TDBody.SEAMAttributes[bit/8] |= 1 << (bit % 8) }), coll, opts)
		var de *Error
		if vd != nil || !errors.As(err, &de) || de.Reason != ReasonTDXModuleMismatch {
			t.Errorf("SEAMATTRIBUTES bit %d: verdict %v, err %v; want %v", bit, vd != nil, err, ReasonTDXModuleMismatch)
		}
	}
}
