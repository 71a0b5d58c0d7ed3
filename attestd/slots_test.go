package attestd

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgxops/sgxops/sgx"
)

// countingVerifier records how many verifications run at once.
type countingVerifier struct {
	Verifier
	now, peak atomic.Int64
}

func (c *countingVerifier) VerifyQuote(ctx context.Context, q *sgx.Quote) (*Verification, error) {
	n := c.now.Add(1)
	defer c.now.Add(-1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	time.Sleep(20 * time.Millisecond) // hold the slot long enough for others to pile up
	return c.Verifier.VerifyQuote(ctx, q)
}

// TestAttestationsWaitForSlots checks that attestations beyond the slot count
// wait in line instead of running at once, and that all of them still complete.
func TestAttestationsWaitForSlots(t *testing.T) {
	var cv *countingVerifier
	e := newTestEnv(t, envOpts{opts: func(o *Options) {
		cv = &countingVerifier{Verifier: o.Verifier}
		o.Verifier = cv
	}})
	id := identity("slots")
	e.release("slots", "v1", id, false)
	rt := []byte("runtime data")
	q := e.quote(id, rt)
	slots := cap(e.srv.slots)
	var wg sync.WaitGroup
	codes := make([]int, 3*slots)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = e.attest(q, rt, "").status
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Fatalf("request %d: HTTP %d", i, c)
		}
	}
	if p := cv.peak.Load(); p > int64(slots) || p < 2 {
		t.Fatalf("peak concurrent verifications %d, want 2..%d", p, slots)
	}
}
