package kube

import (
	"errors"
	"testing"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
)

// TestResolve is the decision table of a read: which content the ledger
// commits an object to, given what is stored.
func TestResolve(t *testing.T) {
	spec := func(state string, rev int64) *v1.AttestdReleaseSpec {
		return &v1.AttestdReleaseSpec{App: "a", Name: "b", State: state, Revision: rev}
	}
	old, cur := spec("candidate", 3), spec("active", 5) // cur: written by the intent at 5
	const key = prefixRelease + "a.b"
	ledger := func(withIntent bool, prev string) *v1.AttestdLedger {
		l := &v1.AttestdLedger{Spec: v1.AttestdLedgerSpec{Revision: 6, Objects: map[string]string{key: digest(cur)}}}
		l.Spec.Intent = &v1.AttestdIntent{Revision: 6}
		if withIntent {
			l.Spec.Intent = &v1.AttestdIntent{Revision: 5, Releases: []v1.AttestdReleaseSpec{*cur}, Previous: map[string]string{key: prev}}
			l.Spec.Revision = 5
		}
		return l
	}
	tests := []struct {
		name       string
		l          *v1.AttestdLedger
		stored     *v1.AttestdReleaseSpec
		want       *v1.AttestdReleaseSpec
		fromIntent bool
		reason     Reason // "" unless an *EditError
		moved      bool
	}{
		{"materialized", ledger(false, ""), cur, cur, false, "", false},
		{"materialized, intent too", ledger(true, digest(old)), cur, cur, false, "", false},
		{"behind the intent", ledger(true, digest(old)), old, cur, true, "", false},
		{"not yet created", ledger(true, ""), nil, cur, true, "", false},
		{"edited to look behind", ledger(true, digest(old)), spec("revoked", 3), nil, false, ReasonChanged, false},
		{"edited", ledger(false, ""), spec("retired", 5), nil, false, ReasonChanged, false},
		{"deleted", ledger(false, ""), nil, nil, false, ReasonDeleted, false},
		{"deleted, intent replaced it", ledger(true, digest(old)), nil, nil, false, ReasonDeleted, false},
		{"newer commit", ledger(false, ""), spec("draining", 7), nil, false, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sn := newSnapshot(&Store{ns: "ns"}, tc.l)
			var rev int64
			if tc.stored != nil {
				rev = tc.stored.Revision
			}
			got, ok, err := resolve(sn, kindRelease, "a.b", key, tc.stored, rev, sn.intentRel["a.b"])
			var ee *EditError
			var mv *errMoved
			switch {
			case tc.reason != "":
				if !errors.As(err, &ee) || ee.Reason != tc.reason || ee.Name != "a.b" {
					t.Fatalf("err = %v, want %s", err, tc.reason)
				}
			case tc.moved:
				if !errors.As(err, &mv) || mv.rev != 7 {
					t.Fatalf("err = %v, want moved", err)
				}
			case err != nil || !ok || digest(&got) != digest(tc.want) || sn.usedIntent != tc.fromIntent:
				t.Fatalf("got %+v ok=%v intent=%v err=%v", got, ok, sn.usedIntent, err)
			}
		})
	}
	// Not in the ledger: absent is "not found", present is foreign (or newer).
	sn := newSnapshot(&Store{ns: "ns"}, &v1.AttestdLedger{Spec: v1.AttestdLedgerSpec{Revision: 6}})
	if _, ok, err := resolve[v1.AttestdReleaseSpec](sn, kindRelease, "a.b", key, nil, 0, nil); ok || err != nil {
		t.Fatalf("absent: ok=%v err=%v", ok, err)
	}
	var ee *EditError
	if _, _, err := resolve(sn, kindRelease, "a.b", key, old, 3, nil); !errors.As(err, &ee) || ee.Reason != ReasonCreated {
		t.Fatalf("foreign: %v", err)
	}
}
