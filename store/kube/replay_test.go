package kube_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/internal/k8stest"
	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/storetest"
)

// specDigest is the ledger's digest of a spec, recomputed the way someone
// with write access to the namespace could.
func specDigest(t *testing.T, spec any) string {
	t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return base64.RawStdEncoding.EncodeToString(sum[:])
}

// TestConsistentEditReplay edits objects and recomputes their digests in the
// ledger, so that the store's own hand-edit detection passes; replaying the
// audit log still finds the edit and names the object.
func TestConsistentEditReplay(t *testing.T) {
	k8stest.Skip(t)
	ctx := context.Background()
	ns := namespace(t)
	s := open(t, ns)
	defer s.Close()
	c := env.Client
	r := storetest.Candidate(t, "hello", "v1", 1)
	c1 := must(s.Commit(ctx, store.Change{Releases: []store.ReleasePut{{Release: r}},
		Audit: []audit.Record{rec(audit.ActionRegister, "hello", "v1")}}))(t)
	retired, err := r.Retire(t0)
	if err != nil {
		t.Fatal(err)
	}
	must(s.Commit(ctx, store.Change{Releases: []store.ReleasePut{{Release: retired, ExpectRevision: c1.Revision}},
		Audit: []audit.Record{rec(audit.ActionRetire, "hello", "v1")}}))(t)
	pol := rec(audit.ActionPolicySet, "", "")
	pol.Details = map[string]string{"attestation_type": "SgxEnclave"}
	must(s.Commit(ctx, store.Change{Policies: []store.PolicyPut{{Type: "SgxEnclave", Text: "strict", JWS: "jws", UpdatedAt: t0}},
		Audit: []audit.Record{pol}}))(t)
	// An audit-only commit, so the ledger's intent holds none of the objects.
	must(s.Commit(ctx, store.Change{Audit: []audit.Record{rec(audit.ActionSigningKeyRotate, "", "")}}))(t)
	must(store.VerifyState(ctx, s))(t)

	// editConsistently applies f to the object and records its new digest.
	editConsistently := func(obj client.Object, key string, spec func() any, f func()) {
		t.Helper()
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			t.Fatal(err)
		}
		f()
		if err := c.Update(ctx, obj); err != nil {
			t.Fatal(err)
		}
		var l v1.AttestdLedger
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ledger"}, &l); err != nil {
			t.Fatal(err)
		}
		if _, ok := l.Spec.Objects[key]; !ok {
			t.Fatalf("ledger has no digest %q: %v", key, l.Spec.Objects)
		}
		l.Spec.Objects[key] = specDigest(t, spec())
		if err := c.Update(ctx, &l); err != nil {
			t.Fatal(err)
		}
	}

	rel := &v1.AttestdRelease{}
	rel.Name, rel.Namespace = "hello.v1", ns
	editConsistently(rel, "release/hello.v1", func() any { return &rel.Spec }, func() { rel.Spec.State = "active" })
	got := must(s.GetRelease(ctx, "hello", "v1"))(t)
	if got.Release.State != "active" {
		t.Fatalf("the digest-consistent edit did not pass the store's own check: %+v", got)
	}
	_, err = store.VerifyState(ctx, s)
	var se *store.StateError
	if !errors.As(err, &se) || se.Object != "release hello/v1" || se.Field != "state" {
		t.Fatalf("VerifyState after a consistent release edit: %v", err)
	}
	t.Log(err)
	editConsistently(rel, "release/hello.v1", func() any { return &rel.Spec }, func() { rel.Spec.State = "retired" })
	must(store.VerifyState(ctx, s))(t)

	var pols v1.AttestdPolicyList
	if err := c.List(ctx, &pols, client.InNamespace(ns)); err != nil || len(pols.Items) != 1 {
		t.Fatalf("policies %v, %v", pols.Items, err)
	}
	p := &pols.Items[0]
	editConsistently(p, "policy/"+p.Name, func() any { return &p.Spec }, func() { p.Spec.Text = "permissive" })
	_, err = store.VerifyState(ctx, s)
	if !errors.As(err, &se) || se.Object != "policy SgxEnclave" || se.Field != "text_sha256" {
		t.Fatalf("VerifyState after a consistent policy edit: %v", err)
	}
	t.Log(err)
}
