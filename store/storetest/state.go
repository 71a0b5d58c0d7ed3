package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
)

// testStateReplay commits audited changes of every kind, the way the
// registry writes them, and checks after each that replaying the log yields
// exactly the stored objects (store.VerifyState).
func testStateReplay(t *testing.T, s store.Store) {
	ctx := context.Background()
	check := func(step string) {
		t.Helper()
		st, err := store.VerifyState(ctx, s)
		if err != nil {
			t.Fatalf("%s: VerifyState: %v", step, err)
		}
		if len(st.Unproven) > 0 {
			t.Fatalf("%s: unproven %v", step, st.Unproven)
		}
	}
	check("empty")
	policyRec := func(action audit.Action, typ string) audit.Record {
		r := rec(action, "", "")
		r.Details = map[string]string{"attestation_type": typ}
		return r
	}
	v1 := Candidate(t, "hello", "v1", 1)
	v2 := Candidate(t, "hello", "v2", 2)
	c1 := must(s.Commit(ctx, store.Change{
		Releases: []store.ReleasePut{{Release: v1}, {Release: v2}},
		Audit:    []audit.Record{rec(audit.ActionRegister, "hello", "v1"), rec(audit.ActionRegister, "hello", "v2")},
	}))(t)
	check("register")
	now := t0.Add(time.Minute)
	act, demoted, err := release.Activate(v1, []release.Release{v1, v2}, now, time.Hour)
	if err != nil || len(demoted) != 0 {
		t.Fatal(err)
	}
	c2 := must(s.Commit(ctx, store.Change{
		Releases: []store.ReleasePut{{Release: act, ExpectRevision: c1.Revision}},
		Audit:    []audit.Record{rec(audit.ActionActivate, "hello", "v1")},
	}))(t)
	check("activate")
	act2, demoted, err := release.Activate(v2, []release.Release{act, v2}, now, time.Hour)
	if err != nil || len(demoted) != 1 {
		t.Fatal(err)
	}
	must(s.Commit(ctx, store.Change{
		Releases: []store.ReleasePut{{Release: act2, ExpectRevision: c1.Revision}, {Release: demoted[0], ExpectRevision: c2.Revision}},
		Audit:    []audit.Record{rec(audit.ActionActivate, "hello", "v2"), rec(audit.ActionDrain, "hello", "v1")},
	}))(t)
	check("activate with a demotion")
	p1 := must(s.Commit(ctx, store.Change{
		Policies: []store.PolicyPut{{Type: "SgxEnclave", Text: "one", JWS: "jws:one", UpdatedAt: now}},
		Audit:    []audit.Record{policyRec(audit.ActionPolicySet, "SgxEnclave")},
	}))(t)
	must(s.Commit(ctx, store.Change{
		Policies: []store.PolicyPut{{Type: "OpenEnclave", Text: "oe", JWS: "jws:oe", UpdatedAt: now}},
		Audit:    []audit.Record{policyRec(audit.ActionPolicySet, "OpenEnclave")},
	}))(t)
	must(s.Commit(ctx, store.Change{
		Policies: []store.PolicyPut{{Type: "SgxEnclave", Reset: true, ExpectRevision: p1.Revision}},
		Audit:    []audit.Record{policyRec(audit.ActionPolicyReset, "SgxEnclave")},
	}))(t)
	check("policies")
	certRec := func(action audit.Action) audit.Record { return rec(action, "", "") }
	a := policyCert("state cert")
	cc := must(s.Commit(ctx, store.Change{
		PolicyCerts: &store.PolicyCertsPut{Certs: []store.PolicyCert{a}},
		Audit:       []audit.Record{certRec(audit.ActionPolicyCertAdd)},
	}))(t)
	check("certificate added")
	must(s.Commit(ctx, store.Change{
		PolicyCerts: &store.PolicyCertsPut{ExpectRevision: cc.Revision},
		Audit:       []audit.Record{certRec(audit.ActionPolicyCertRemove)},
	}))(t)
	must(s.Commit(ctx, store.Change{Audit: []audit.Record{rec(audit.ActionSigningKeyRotate, "", "")}}))(t)
	check("certificate removed, audit-only commit")

	// The entries carry the state; callers cannot supply it.
	es := must(s.ListAudit(ctx, 0, 1))(t)
	if es[0].Details[store.DetailReleaseState] == "" || es[0].Details[store.DetailRevision] == "" {
		t.Fatalf("register entry without state: %v", es[0].Details)
	}
	forged := rec(audit.ActionRetire, "hello", "v1")
	forged.Details = map[string]string{store.DetailReleaseState: "{}"}
	if _, err := s.Commit(ctx, store.Change{Audit: []audit.Record{forged}}); !errors.Is(err, store.ErrInvalidChange) {
		t.Fatalf("a record with a state detail: %v", err)
	}
	// A write that no record names is not in the log: reported, named.
	must(s.Commit(ctx, store.Change{Releases: []store.ReleasePut{{Release: Candidate(t, "hello", "v3", 3)}}}))(t)
	_, err = store.VerifyState(ctx, s)
	var se *store.StateError
	if !errors.As(err, &se) || !errors.Is(err, store.ErrStateMismatch) || se.Object != "release hello/v3" {
		t.Fatalf("unaudited write: %v", err)
	}
}
