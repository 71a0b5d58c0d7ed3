package cluster_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// trustPropagationBound is the bound attestd guarantees for a trust change
// acknowledged by one replica to be enforced by every other: a replica's
// cached trust set is at most one second old (attestd's stateTTL), and a
// reload reads the store from the API server (no informer cache), so the
// bound is 1 s plus one store read; the test allows that read one second.
const trustPropagationBound = 2 * time.Second

// TestClusterPropagationBound: a release registered through replica a is
// readable through b and c at once (admin reads go to the store), and an
// attestation against a release just revoked through a is refused by every
// replica within trustPropagationBound. Measured over several rounds.
func TestClusterPropagationBound(t *testing.T) {
	c := newCluster(t)
	a, b, cc := c.start("a"), c.start("b"), c.start("c")
	all := []*replica{a, b, cc}
	rt := []byte("bound")
	var worstRead, worstRevoke time.Duration
	const rounds = 5
	for round := range rounds {
		name := fmt.Sprintf("v%d", round)
		id := identity("bound " + name)
		q := c.quote(id, rt)
		a.admin(t, "POST", "/admin/v1/releases", map[string]any{"app": "bound", "name": name, "mrenclave": mrenclaveHex(id)}, 201)
		for _, r := range []*replica{b, cc} {
			took, ok := waitFor(trustPropagationBound, func() bool { st, _ := r.do("GET", "/admin/v1/releases/bound/"+name, adminToken, nil); return st == 200 })
			if !ok {
				t.Fatalf("replica %s does not see bound/%s after %v", r.name, name, trustPropagationBound)
			}
			worstRead = max(worstRead, took)
		}
		a.admin(t, "POST", "/admin/v1/releases/bound/"+name+"/activate", nil, 200)
		for _, r := range all {
			if _, ok := waitFor(trustPropagationBound, func() bool { st, _, _ := r.attest(q, rt); return st == 200 }); !ok {
				st, _, body := r.attest(q, rt)
				t.Fatalf("replica %s does not attest the activated bound/%s after %v: HTTP %d %s", r.name, name, trustPropagationBound, st, body)
			}
		}
		// Every replica attests in a loop; revoke through a; each must
		// refuse within the bound, counted from the revoke's answer.
		a.admin(t, "POST", "/admin/v1/releases/bound/"+name+"/revoke", map[string]string{"reason": "test"}, 200)
		revoked := time.Now()
		var wg sync.WaitGroup
		took := make([]time.Duration, len(all))
		for i, r := range all {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if d, ok := waitFor(trustPropagationBound+time.Second, func() bool {
					st, _, _ := r.attest(q, rt)
					return st != 200 && st != 0
				}); !ok {
					t.Errorf("round %d: replica %s still attests revoked bound/%s after %v", round, r.name, name, d)
				}
				took[i] = time.Since(revoked)
			}()
		}
		wg.Wait()
		for i, d := range took {
			if d > trustPropagationBound {
				t.Errorf("round %d: replica %s refused the revoked release after %v, bound %v", round, all[i].name, d, trustPropagationBound)
			}
			worstRevoke = max(worstRevoke, d)
		}
		// The refusal names the revocation.
		if st, _, body := b.attest(q, rt); st == 200 || !strings.Contains(strings.ToLower(string(body)), "revoked") {
			t.Errorf("round %d: refusal of a revoked release: HTTP %d %s", round, st, body)
		}
	}
	t.Logf("MEASURED over %d rounds: a release registered through a was readable through b and c after at most %v; "+
		"an attestation against a release revoked through a was refused by every replica after at most %v (bound %v)",
		rounds, worstRead, worstRevoke, trustPropagationBound)
}
