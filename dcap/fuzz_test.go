package dcap

import (
	"bytes"
	"testing"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/sgx"
)

// fuzzBase is a real quote with the collateral it verifies against.
type fuzzBase struct {
	raw  []byte
	q    *sgx.Quote
	coll *collateral.Collateral
	v    *Verifier
}

// signedParts returns every byte a verified quote's authenticity rests on.
func signedParts(q *sgx.Quote) [][]byte {
	s := &q.Signature
	return [][]byte{q.SignedData(), s.Signature[:], s.AttestationKey[:], s.QEReport.Marshal(), s.QEReportSignature[:], s.QEAuthData}
}

// FuzzVerify patches real quotes (patch bytes written at off, or the quote cut
// at off when the patch is empty) and verifies them against their real
// collateral: Verify must never panic, and must never accept a quote whose
// signed parts differ from the original. Small patch inputs keep the fuzzer's
// minimisation cheap; the quotes themselves are several KiB.
func FuzzVerify(f *testing.F) {
	var bases []fuzzBase
	for i, id := range []string{"phala-sgx", "phala-tdx", "automata-v5-tdx-0625", "oe-relaunch"} {
		c := caseByID(f, id)
		raw := quoteRaw(f, c.Quote)
		q, err := sgx.ParseQuote(raw)
		if err != nil {
			f.Fatal(err)
		}
		b := fuzzBase{raw: raw, q: q, coll: loadBundle(f, c.Collateral), v: NewVerifier(Options{Now: at(c.Now)})}
		if _, err := b.v.Verify(q, b.coll); err != nil {
			f.Fatalf("%s: %v", id, err)
		}
		bases = append(bases, b)
		f.Add(uint8(i), uint16(100), []byte{0x42})                      // enclave/TD body
		f.Add(uint8(i), uint16(len(q.SignedData())+8), []byte{1, 2, 3}) // quote signature
		f.Add(uint8(i), uint16(len(raw)-10), []byte{})                  // truncated
	}
	f.Fuzz(func(t *testing.T, idx uint8, off uint16, patch []byte) {
		b := bases[int(idx)%len(bases)]
		o := int(off) % len(b.raw)
		mut := bytes.Clone(b.raw)
		if len(patch) == 0 {
			mut = mut[:o]
		} else {
			copy(mut[o:], patch)
		}
		q, err := sgx.ParseQuote(mut)
		if err != nil {
			return
		}
		vd, err := b.v.Verify(q, b.coll)
		if err != nil && vd == nil {
			return
		}
		if vd == nil {
			t.Fatal("nil verdict without an error")
		}
		got, want := signedParts(q), signedParts(b.q)
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("accepted a quote whose signed part %d differs", i)
			}
		}
	})
}
