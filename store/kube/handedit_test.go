package kube_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/internal/k8stest"
	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/kube"
	"github.com/sgxops/sgxops/store/storetest"
)

// wantEdit checks that err reports object name as reason.
func wantEdit(t *testing.T, what string, err error, name string, reason kube.Reason) {
	t.Helper()
	var ee *kube.EditError
	if !errors.Is(err, store.ErrCorrupt) || !errors.As(err, &ee) || ee.Name != name || ee.Reason != reason {
		t.Fatalf("%s: err = %v, want %s %q", what, err, reason, name)
	}
	if !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "outside attestd") {
		t.Fatalf("%s: message %q does not name the object and say it was changed outside attestd", what, err)
	}
}

// TestHandEdit changes, deletes and creates release objects with the
// client, as kubectl edit/delete/apply would, and checks that Get, List and
// Commit report the object (detection, not validation: see
// docs/architecture.md).
func TestHandEdit(t *testing.T) {
	k8stest.Skip(t)
	ctx := context.Background()
	ns := namespace(t)
	s := open(t, ns)
	defer s.Close()
	c := env.Client
	for i, name := range []string{"v1", "v2"} {
		must(s.Commit(ctx, store.Change{
			Releases: []store.ReleasePut{{Release: storetest.Candidate(t, "hello", name, i)}},
			Audit:    []audit.Record{rec(audit.ActionRegister, "hello", name)},
		}))(t)
	}
	key := client.ObjectKey{Namespace: ns, Name: "hello.v1"}
	var orig v1.AttestdRelease
	if err := c.Get(ctx, key, &orig); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(*v1.AttestdReleaseSpec)) {
		t.Helper()
		var o v1.AttestdRelease
		if err := c.Get(ctx, key, &o); err != nil {
			t.Fatal(err)
		}
		o.Spec = orig.Spec
		f(&o.Spec)
		if err := c.Update(ctx, &o); err != nil {
			t.Fatal(err)
		}
	}
	checkAll := func(name string, reason kube.Reason) {
		t.Helper()
		_, err := s.GetRelease(ctx, "hello", "v1")
		if name == "hello.v1" {
			wantEdit(t, "GetRelease", err, name, reason)
		}
		_, err = s.ListReleases(ctx, "")
		wantEdit(t, "ListReleases", err, name, reason)
		_, err = s.ListReleases(ctx, "hello")
		wantEdit(t, "ListReleases(hello)", err, name, reason)
		cur := must(s.GetRelease(ctx, "hello", "v2"))(t)
		retired, err := cur.Release.Retire(t0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Commit(ctx, store.Change{
			Guards:   []store.AppGuard{{App: "hello", Revision: cur.Revision}},
			Releases: []store.ReleasePut{{Release: retired, ExpectRevision: cur.Revision}},
		})
		wantEdit(t, "Commit", err, name, reason)
	}

	// The state changed by hand (what a person "activating" a release with
	// kubectl edit would do); a read-only store sees it too.
	edit(func(sp *v1.AttestdReleaseSpec) { sp.State = "active" })
	checkAll("hello.v1", kube.ReasonChanged)
	ro := open(t, ns, func(o *kube.Options) { o.ReadOnly = true })
	_, err := ro.ListReleases(ctx, "")
	wantEdit(t, "read-only ListReleases", err, "hello.v1", kube.ReasonChanged)

	// Edited and given an old revision, to pass as a commit not yet
	// materialized.
	edit(func(sp *v1.AttestdReleaseSpec) { sp.State = "active"; sp.Revision = 0 })
	checkAll("hello.v1", kube.ReasonChanged)

	// A revision no commit has reached.
	edit(func(sp *v1.AttestdReleaseSpec) { sp.Revision = 1 << 40 })
	checkAll("hello.v1", kube.ReasonRevision)

	// Restored to what attestd wrote: everything reads again.
	edit(func(*v1.AttestdReleaseSpec) {})
	must(s.ListReleases(ctx, ""))(t)

	// Deleted.
	if err := c.Delete(ctx, &orig); err != nil {
		t.Fatal(err)
	}
	checkAll("hello.v1", kube.ReasonDeleted)
	restored := &v1.AttestdRelease{Spec: orig.Spec}
	restored.Name, restored.Namespace, restored.Labels = orig.Name, orig.Namespace, orig.Labels
	if err := c.Create(ctx, restored); err != nil {
		t.Fatal(err)
	}
	must(s.GetRelease(ctx, "hello", "v1"))(t)

	// Created outside attestd (a release applied from a GitOps repository
	// instead of registered through attestd).
	foreign := &v1.AttestdRelease{Spec: orig.Spec}
	foreign.Name, foreign.Namespace = "hello.v9", ns
	foreign.Spec.Name = "v9"
	if err := c.Create(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	checkAll("hello.v9", kube.ReasonCreated)
	if err := c.Delete(ctx, foreign); err != nil {
		t.Fatal(err)
	}
	must(s.ListReleases(ctx, ""))(t)

	// An audit entry edited in its segment: the chain no longer verifies.
	var seg v1.AttestdAuditSegment
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "audit-0000000000000001"}, &seg); err != nil {
		t.Fatal(err)
	}
	seg.Spec.Entries[0].Actor = "mallory"
	if err := c.Update(ctx, &seg); err != nil {
		t.Fatal(err)
	}
	var ce *audit.ChainError
	if _, err := store.VerifyLog(ctx, s); !errors.As(err, &ce) || ce.Seq != 1 || ce.Reason != audit.ReasonHash {
		t.Fatalf("VerifyLog after editing entry 1: %v", err)
	}
}
