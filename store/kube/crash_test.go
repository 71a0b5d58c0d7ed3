package kube_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/internal/k8stest"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/kube"
	"github.com/sgxops/sgxops/store/storetest"
)

var errCrash = errors.New("crashed (test)")

// crashClient is a process that dies at its failAt-th write: that write and
// every later one fail without reaching the API server; with lost set, the
// failAt-th write reaches it and only its answer is lost. Reads pass, so a
// crash "between two API calls" is a crash before one of the writes (reads
// change nothing).
type crashClient struct {
	client.Client
	failAt int64
	lost   bool
	n      atomic.Int64
}

func (c *crashClient) write(fn func() error) error {
	n := c.n.Add(1)
	switch {
	case c.failAt <= 0 || n < c.failAt:
		return fn()
	case n == c.failAt && c.lost:
		if err := fn(); err != nil {
			return err
		}
	}
	return errCrash
}

func (c *crashClient) Create(ctx context.Context, o client.Object, opts ...client.CreateOption) error {
	return c.write(func() error { return c.Client.Create(ctx, o, opts...) })
}

func (c *crashClient) Update(ctx context.Context, o client.Object, opts ...client.UpdateOption) error {
	return c.write(func() error { return c.Client.Update(ctx, o, opts...) })
}

func (c *crashClient) Patch(ctx context.Context, o client.Object, p client.Patch, opts ...client.PatchOption) error {
	return c.write(func() error { return c.Client.Patch(ctx, o, p, opts...) })
}

func (c *crashClient) Delete(ctx context.Context, o client.Object, opts ...client.DeleteOption) error {
	return c.write(func() error { return c.Client.Delete(ctx, o, opts...) })
}

var t0 = time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)

func rec(action audit.Action, app, name string) audit.Record {
	return audit.Record{Time: t0, Actor: "kube-test", Action: action, App: app, Release: name}
}

// must(f())(t) returns f's value, failing t on f's error.
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func policyCert(der string) store.PolicyCert {
	return store.PolicyCert{Thumbprint: store.PolicyCertThumbprint([]byte(der)), DER: []byte(der), AddedAt: t0}
}

// crashChange is the commit that crashes: it activates v1, adds v2, sets a
// policy and the certificates, with two audit entries. Its writes after the
// ledger update: v1, v2, the policy, the certificates, the audit segment.
func crashChange(t *testing.T, s store.Store) store.Change {
	ctx := context.Background()
	v1rec := must(s.GetRelease(ctx, "hello", "v1"))(t)
	act, _, err := release.Activate(v1rec.Release, nil, t0.Add(time.Minute), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return store.Change{
		Guards:      []store.AppGuard{{App: "hello", Revision: v1rec.Revision}},
		Releases:    []store.ReleasePut{{Release: act, ExpectRevision: v1rec.Revision}, {Release: storetest.Candidate(t, "hello", "v2", 2)}},
		Policies:    []store.PolicyPut{{Type: "SgxEnclave", Text: "after", JWS: "jws", UpdatedAt: t0}},
		PolicyCerts: &store.PolicyCertsPut{Certs: []store.PolicyCert{policyCert("cert")}},
		Audit:       []audit.Record{rec(audit.ActionActivate, "hello", "v1"), rec(audit.ActionRegister, "hello", "v2")},
	}
}

const crashWrites = 6 // ledger, v1, v2, policy, certificates, segment

// TestCrashBetweenAPICalls stops a commit at each of its writes (and, with
// the ledger update's answer lost, after it) and checks that readers see
// exactly the state before or after the commit, that Open finishes the
// commit, and that the audit chain verifies throughout.
func TestCrashBetweenAPICalls(t *testing.T) {
	k8stest.Skip(t)
	for failAt := int64(1); failAt <= crashWrites+1; failAt++ {
		for _, lost := range []bool{false, true} {
			if lost && failAt > crashWrites {
				continue
			}
			t.Run(fmt.Sprintf("write%d/lost=%v", failAt, lost), func(t *testing.T) { testCrash(t, failAt, lost) })
		}
	}
}

func testCrash(t *testing.T, failAt int64, lost bool) {
	ctx := context.Background()
	ns := namespace(t)
	base := open(t, ns)
	defer base.Close()
	must(base.Commit(ctx, store.Change{
		Releases: []store.ReleasePut{{Release: storetest.Candidate(t, "hello", "v1", 1)}},
		Audit:    []audit.Record{rec(audit.ActionRegister, "hello", "v1")},
	}))(t)
	ch := crashChange(t, base)

	cc := &crashClient{Client: env.Client, failAt: failAt, lost: lost}
	var mu sync.Mutex
	var rollErr error
	crashed := open(t, ns, func(o *kube.Options) {
		o.Client = cc
		o.Observe = func(op string, _ time.Duration, err error) {
			if op == "roll-forward" {
				mu.Lock()
				rollErr = err
				mu.Unlock()
			}
		}
	})
	_, err := crashed.Commit(ctx, ch)
	committed := failAt > 1 || lost
	switch {
	case committed && err != nil:
		t.Fatalf("the ledger update landed but Commit failed: %v", err)
	case !committed && !errors.Is(err, errCrash):
		t.Fatalf("Commit before the ledger update: err = %v, want the crash", err)
	}
	if committed && failAt <= crashWrites && !errors.Is(rollErr, errCrash) {
		t.Fatalf("the failed roll-forward was not reported to Observe: %v", rollErr)
	}

	// A read-only store (it never rolls forward) sees all of the commit or none.
	ro := open(t, ns, func(o *kube.Options) { o.ReadOnly = true })
	checkState(t, ro, committed)
	if _, err := ro.Commit(ctx, ch); !errors.Is(err, store.ErrReadOnly) {
		t.Fatalf("read-only Commit: %v", err)
	}
	ro.Close()

	// Open finishes the commit; the objects then hold it.
	after := open(t, ns)
	defer after.Close()
	checkState(t, after, committed)
	if committed {
		var rel v1.AttestdRelease
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "hello.v2"}, &rel); err != nil {
			t.Fatalf("Open did not materialize v2: %v", err)
		}
		var seg v1.AttestdAuditSegment
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "audit-0000000000000001"}, &seg); err != nil || len(seg.Spec.Entries) != 3 {
			t.Fatalf("Open did not append the entries: %d, %v", len(seg.Spec.Entries), err)
		}
	}
	// The store goes on: a commit from the crashed writer's reader retries
	// cleanly, and the chain verifies.
	if !committed {
		must(after.Commit(ctx, crashChange(t, after)))(t)
	}
	must(after.Commit(ctx, store.Change{Audit: []audit.Record{rec(audit.ActionRetire, "", "")}}))(t)
	if st, err := store.VerifyLog(ctx, after); err != nil || st.Entries != 4 {
		t.Fatalf("VerifyLog = %+v, %v", st, err)
	}
}

// checkState asserts that s shows the crash change entirely (committed) or not at all.
func checkState(t *testing.T, s store.Store, committed bool) {
	t.Helper()
	ctx := context.Background()
	v1rec := must(s.GetRelease(ctx, "hello", "v1"))(t)
	_, v2err := s.GetRelease(ctx, "hello", "v2")
	pol, polErr := s.GetPolicy(ctx, "SgxEnclave")
	certs := must(s.GetPolicyCerts(ctx))(t)
	all := must(s.ListReleases(ctx, ""))(t)
	st, err := store.VerifyLog(ctx, s)
	if err != nil {
		t.Fatalf("VerifyLog: %v", err)
	}
	if committed {
		if v1rec.Release.State != release.Active || v2err != nil || polErr != nil || pol.Text != "after" ||
			len(certs.Certs) != 1 || len(all) != 2 || st.Entries != 3 || certs.Revision != v1rec.Revision {
			t.Fatalf("half the commit: v1 %s, v2 %v, policy %v, %d certs, %d releases, %d entries",
				v1rec.Release.State, v2err, polErr, len(certs.Certs), len(all), st.Entries)
		}
		return
	}
	if v1rec.Release.State != release.Candidate || !errors.Is(v2err, store.ErrNotFound) || !errors.Is(polErr, store.ErrNotFound) ||
		len(certs.Certs) != 0 || len(all) != 1 || st.Entries != 1 {
		t.Fatalf("part of a failed commit is visible: v1 %s, v2 %v, policy %v, %d certs, %d releases, %d entries",
			v1rec.Release.State, v2err, polErr, len(certs.Certs), len(all), st.Entries)
	}
}
