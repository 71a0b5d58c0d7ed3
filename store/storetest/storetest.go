package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
)

// Open returns a fresh, empty store; the suite closes it.
type Open func(t *testing.T) store.Store

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// Measurement returns a valid, distinct MRENCLAVE for i.
func Measurement(i int) string { return fmt.Sprintf("%064x", 0xe0000000+i) }

// Candidate returns a valid candidate release app/name.
func Candidate(t testing.TB, app, name string, i int) release.Release {
	t.Helper()
	r, err := release.NewCandidate(release.Release{App: app, Name: name, MREnclave: Measurement(i)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func rec(action audit.Action, app, name string) audit.Record {
	return audit.Record{Time: t0, Actor: "storetest", Action: action, App: app, Release: name}
}

// Run runs every conformance test against stores made by open.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Empty", testEmpty},
		{"CreateAndGet", testCreateAndGet},
		{"Conflicts", testConflicts},
		{"AppGuard", testAppGuard},
		{"AppRevision", testAppRevision},
		{"Atomic", testAtomic},
		{"InvalidChanges", testInvalidChanges},
		{"Policies", testPolicies},
		{"PolicyCerts", testPolicyCerts},
		{"AuditPaging", testAuditPaging},
		{"ListOrder", testListOrder},
		{"Copies", testCopies},
		{"ConcurrentWriters", testConcurrentWriters},
		{"Context", testContext},
		{"StateReplay", testStateReplay},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			tc.fn(t, s)
		})
	}
	t.Run("Closed", func(t *testing.T) {
		s := open(t)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, err := s.ListReleases(ctx, ""); !errors.Is(err, store.ErrClosed) {
			t.Errorf("ListReleases after Close: %v", err)
		}
		if _, err := s.Commit(ctx, store.Change{Audit: []audit.Record{rec("register", "", "")}}); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Commit after Close: %v", err)
		}
	})
}

// must(f())(t) returns f's value, failing t on f's error.
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func conflict(t *testing.T, err error, key string) *store.ConflictError {
	t.Helper()
	var ce *store.ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, store.ErrConflict) || ce.Key != key {
		t.Fatalf("err = %v, want conflict on %s", err, key)
	}
	return ce
}

func verify(t *testing.T, s store.Store, entries uint64) {
	t.Helper()
	st, err := store.VerifyLog(context.Background(), s)
	if err != nil {
		t.Fatalf("VerifyLog: %v", err)
	}
	if st.Entries != entries {
		t.Fatalf("VerifyLog: %d entries, want %d", st.Entries, entries)
	}
}

func testEmpty(t *testing.T, s store.Store) {
	ctx := context.Background()
	if rs := must(s.ListReleases(ctx, ""))(t); len(rs) != 0 {
		t.Fatalf("releases %v", rs)
	}
	if _, err := s.GetRelease(ctx, "a", "b"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetRelease: %v", err)
	}
	if _, err := s.GetPolicy(ctx, "SgxEnclave"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetPolicy: %v", err)
	}
	if ps := must(s.ListPolicies(ctx))(t); len(ps) != 0 {
		t.Fatalf("policies %v", ps)
	}
	if es := must(s.ListAudit(ctx, 0, 0))(t); len(es) != 0 {
		t.Fatalf("entries %v", es)
	}
	if h := must(s.AuditHead(ctx))(t); h.Seq != 0 || !h.Hash.IsZero() {
		t.Fatalf("head %+v", h)
	}
	if _, err := s.ListReleases(ctx, "Bad_App"); err == nil {
		t.Fatal("ListReleases accepted an invalid app name")
	}
	verify(t, s, 0)
}

func testCreateAndGet(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := Candidate(t, "hello", "v1", 1)
	c := must(s.Commit(ctx, store.Change{
		Releases: []store.ReleasePut{{Release: r}},
		Audit:    []audit.Record{rec(audit.ActionRegister, "hello", "v1")},
	}))(t)
	if c.Revision == 0 || len(c.Entries) != 1 || c.Entries[0].Seq != 1 || !c.Entries[0].PrevHash.IsZero() {
		t.Fatalf("Committed = %+v", c)
	}
	got := must(s.GetRelease(ctx, "hello", "v1"))(t)
	if got.Release != r || got.Revision != c.Revision {
		t.Fatalf("GetRelease = %+v, want %+v at %d", got, r, c.Revision)
	}
	es := must(s.ListAudit(ctx, 0, 0))(t)
	if len(es) != 1 || es[0].Hash != c.Entries[0].Hash || es[0].Actor != "storetest" {
		t.Fatalf("audit = %+v", es)
	}
	if h := must(s.AuditHead(ctx))(t); h.Seq != 1 || h.Hash != c.Entries[0].Hash {
		t.Fatalf("head %+v", h)
	}
	verify(t, s, 1)
}

func testConflicts(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := Candidate(t, "hello", "v1", 1)
	c1 := must(s.Commit(ctx, store.Change{Releases: []store.ReleasePut{{Release: r}}}))(t)

	// Creating again: the caller expected absence.
	ce := conflict(t, mustFail(s.Commit(ctx, store.Change{Releases: []store.ReleasePut{{Release: r}}})), "release/hello/v1")
	if ce.Expected != 0 || ce.Actual != c1.Revision {
		t.Fatalf("conflict %+v", ce)
	}
	// Two writers read revision c1; the first wins, the second conflicts,
	// and succeeds after reloading.
	a, err := r.Retire(t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Revoke(t0.Add(time.Minute), "leak")
	if err != nil {
		t.Fatal(err)
	}
	c2 := must(s.Commit(ctx, store.Change{Releases: []store.ReleasePut{{Release: a, ExpectRevision: c1.Revision}}}))(t)
	if c2.Revision <= c1.Revision {
		t.Fatalf("revision did not grow: %d -> %d", c1.Revision, c2.Revision)
	}
	ce = conflict(t, mustFail(s.Commit(ctx, store.Change{Releases: []store.ReleasePut{{Release: b, ExpectRevision: c1.Revision}}})), "release/hello/v1")
	if ce.Expected != c1.Revision || ce.Actual != c2.Revision {
		t.Fatalf("conflict %+v", ce)
	}
	cur := must(s.GetRelease(ctx, "hello", "v1"))(t)
	if cur.Release.State != release.Retired {
		t.Fatalf("lost update: state %s", cur.Release.State)
	}
	b, err = cur.Release.Revoke(t0.Add(2*time.Minute), "leak")
	if err != nil {
		t.Fatal(err)
	}
	must(s.Commit(ctx, store.Change{Releases: []store.ReleasePut{{Release: b, ExpectRevision: cur.Revision}}}))(t)
	if got := must(s.GetRelease(ctx, "hello", "v1"))(t); got.Release.State != release.Revoked {
		t.Fatalf("retry not applied: %s", got.Release.State)
	}
}

func mustFail(_ store.Committed, err error) error { return err }

func testAppGuard(t *testing.T, s store.Store) {
	ctx := context.Background()
	guardOK := store.Change{Guards: []store.AppGuard{{App: "hello"}}, Releases: []store.ReleasePut{{Release: Candidate(t, "hello", "v1", 1)}}}
	c1 := must(s.Commit(ctx, guardOK))(t)
	list := must(s.ListReleases(ctx, "hello"))(t)
	if store.AppRevision(list) != c1.Revision {
		t.Fatalf("AppRevision = %d, want %d", store.AppRevision(list), c1.Revision)
	}
	// A writer that listed the app before v1 existed must conflict.
	stale := store.Change{Guards: []store.AppGuard{{App: "hello"}}, Releases: []store.ReleasePut{{Release: Candidate(t, "hello", "v2", 2)}}}
	ce := conflict(t, mustFail(s.Commit(ctx, stale)), "app/hello")
	if ce.Actual != c1.Revision {
		t.Fatalf("conflict %+v", ce)
	}
	// Writes to another app do not disturb the guard.
	must(s.Commit(ctx, store.Change{Releases: []store.ReleasePut{{Release: Candidate(t, "other", "v1", 3)}}}))(t)
	stale.Guards[0].Revision = c1.Revision
	must(s.Commit(ctx, stale))(t)
	if _, err := s.GetRelease(ctx, "hello", "v2"); err != nil {
		t.Fatal(err)
	}
}

func testAtomic(t *testing.T, s store.Store) {
	ctx := context.Background()
	c1 := must(s.Commit(ctx, store.Change{
		Releases: []store.ReleasePut{{Release: Candidate(t, "hello", "v1", 1)}},
		Audit:    []audit.Record{rec(audit.ActionRegister, "hello", "v1")},
	}))(t)
	head := must(s.AuditHead(ctx))(t)
	failing := []store.Change{
		{ // the second put conflicts
			Releases: []store.ReleasePut{{Release: Candidate(t, "hello", "v2", 2)}, {Release: Candidate(t, "hello", "v1", 1)}},
			Audit:    []audit.Record{rec(audit.ActionRegister, "hello", "v2")},
		},
		{ // the policy conflicts
			Releases: []store.ReleasePut{{Release: Candidate(t, "hello", "v2", 2)}},
			Policies: []store.PolicyPut{{Type: "SgxEnclave", Text: "p", JWS: "j", UpdatedAt: t0, ExpectRevision: 7}},
		},
		{ // the second audit record is malformed
			Releases: []store.ReleasePut{{Release: Candidate(t, "hello", "v2", 2)}},
			Audit:    []audit.Record{rec(audit.ActionRegister, "hello", "v2"), {Time: t0, Action: "x"}},
		},
	}
	for i, ch := range failing {
		if _, err := s.Commit(ctx, ch); err == nil {
			t.Fatalf("change %d committed", i)
		}
	}
	if _, err := s.GetRelease(ctx, "hello", "v2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("partial write visible: %v", err)
	}
	if h := must(s.AuditHead(ctx))(t); h != head {
		t.Fatalf("head moved from %+v to %+v", head, h)
	}
	c2 := must(s.Commit(ctx, store.Change{Audit: []audit.Record{rec(audit.ActionRegister, "", "")}}))(t)
	if c2.Revision != c1.Revision+1 {
		t.Fatalf("failed commits consumed revisions: %d then %d", c1.Revision, c2.Revision)
	}
	verify(t, s, 2)
}

func testInvalidChanges(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := Candidate(t, "hello", "v1", 1)
	bad := r
	bad.MREnclave = "AB" + bad.MREnclave[2:]
	tests := map[string]store.Change{
		"empty":              {},
		"only a guard":       {Guards: []store.AppGuard{{App: "hello"}}},
		"invalid release":    {Releases: []store.ReleasePut{{Release: bad}}},
		"release twice":      {Releases: []store.ReleasePut{{Release: r}, {Release: r}}},
		"bad guard":          {Guards: []store.AppGuard{{App: "-x"}}, Releases: []store.ReleasePut{{Release: r}}},
		"bad policy type":    {Policies: []store.PolicyPut{{Type: "Sgx/Enclave", Text: "p", JWS: "j", UpdatedAt: t0}}},
		"policy without jws": {Policies: []store.PolicyPut{{Type: "SgxEnclave", Text: "p", UpdatedAt: t0}}},
		"policy no time":     {Policies: []store.PolicyPut{{Type: "SgxEnclave", Text: "p", JWS: "j"}}},
		"policy twice":       {Policies: []store.PolicyPut{{Type: "SgxEnclave", Reset: true}, {Type: "SgxEnclave", Reset: true}}},
		"audit no actor":     {Audit: []audit.Record{{Time: t0, Action: "register"}}},
		"audit no time":      {Audit: []audit.Record{{Actor: "a", Action: "register"}}},
	}
	for name, ch := range tests {
		if _, err := s.Commit(ctx, ch); !errors.Is(err, store.ErrInvalidChange) {
			t.Errorf("%s: err = %v, want ErrInvalidChange", name, err)
		}
	}
	if rs := must(s.ListReleases(ctx, ""))(t); len(rs) != 0 {
		t.Fatalf("invalid change wrote %v", rs)
	}
}

func testPolicies(t *testing.T, s store.Store) {
	ctx := context.Background()
	set := func(typ, text string, expect uint64) (store.Committed, error) {
		return s.Commit(ctx, store.Change{
			Policies: []store.PolicyPut{{Type: typ, Text: text, JWS: "jws:" + text, UpdatedAt: t0, ExpectRevision: expect}},
			Audit:    []audit.Record{rec(audit.ActionPolicySet, "", "")},
		})
	}
	c1 := must(set("SgxEnclave", "one", 0))(t)
	must(set("OpenEnclave", "oe", 0))(t)
	p := must(s.GetPolicy(ctx, "SgxEnclave"))(t)
	if p.Text != "one" || p.JWS != "jws:one" || p.Revision != c1.Revision || !p.UpdatedAt.Equal(t0) {
		t.Fatalf("policy %+v", p)
	}
	ps := must(s.ListPolicies(ctx))(t)
	if len(ps) != 2 || ps[0].Type != "OpenEnclave" || ps[1].Type != "SgxEnclave" {
		t.Fatalf("ListPolicies = %+v", ps)
	}
	conflict(t, mustFail(set("SgxEnclave", "two", 0)), "policy/SgxEnclave")
	c3 := must(set("SgxEnclave", "two", c1.Revision))(t)
	// Reset, then set again: the new revision is fresh, so a writer holding
	// the old one cannot overwrite (no ABA).
	must(s.Commit(ctx, store.Change{Policies: []store.PolicyPut{{Type: "SgxEnclave", Reset: true, ExpectRevision: c3.Revision}}}))(t)
	if _, err := s.GetPolicy(ctx, "SgxEnclave"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after reset: %v", err)
	}
	c5 := must(set("SgxEnclave", "three", 0))(t)
	if c5.Revision <= c3.Revision {
		t.Fatalf("revision reused: %d after %d", c5.Revision, c3.Revision)
	}
	conflict(t, mustFail(set("SgxEnclave", "stale", c3.Revision)), "policy/SgxEnclave")
}

func policyCert(der string) store.PolicyCert {
	return store.PolicyCert{Thumbprint: store.PolicyCertThumbprint([]byte(der)), DER: []byte(der), AddedAt: t0}
}

func testPolicyCerts(t *testing.T, s store.Store) {
	ctx := context.Background()
	if r := must(s.GetPolicyCerts(ctx))(t); r.Revision != 0 || len(r.Certs) != 0 {
		t.Fatalf("empty store: %+v", r)
	}
	a, b := policyCert("cert a"), policyCert("cert b")
	if a.Thumbprint > b.Thumbprint {
		a, b = b, a
	}
	put := func(expect uint64, certs ...store.PolicyCert) (store.Committed, error) {
		return s.Commit(ctx, store.Change{PolicyCerts: &store.PolicyCertsPut{Certs: certs, ExpectRevision: expect}})
	}
	c1 := must(put(0, a, b))(t)
	r := must(s.GetPolicyCerts(ctx))(t)
	if r.Revision != c1.Revision || len(r.Certs) != 2 || string(r.Certs[0].DER) != string(a.DER) || !r.Certs[1].AddedAt.Equal(t0) {
		t.Fatalf("after put: %+v", r)
	}
	// The returned record is a copy.
	r.Certs[0].DER[0] ^= 1
	if r2 := must(s.GetPolicyCerts(ctx))(t); string(r2.Certs[0].DER) != string(a.DER) {
		t.Fatal("GetPolicyCerts returned shared memory")
	}
	conflict(t, mustFail(put(0, a)), "policy-certificates")
	c2 := must(put(c1.Revision, b))(t)
	if r := must(s.GetPolicyCerts(ctx))(t); r.Revision != c2.Revision || len(r.Certs) != 1 || r.Certs[0].Thumbprint != b.Thumbprint {
		t.Fatalf("after removing a: %+v", r)
	}
	bad := b
	bad.Thumbprint = a.Thumbprint
	for name, certs := range map[string][]store.PolicyCert{
		"wrong thumbprint": {bad},
		"unordered":        {b, a},
		"duplicate":        {a, a},
		"empty DER":        {{Thumbprint: store.PolicyCertThumbprint(nil), AddedAt: t0}},
		"no time":          {{Thumbprint: a.Thumbprint, DER: a.DER}},
	} {
		if _, err := put(c2.Revision, certs...); !errors.Is(err, store.ErrInvalidChange) {
			t.Errorf("%s: err = %v, want ErrInvalidChange", name, err)
		}
	}
	// Emptying the set is a valid write (the registry decides whether the
	// last certificate may go).
	must(put(c2.Revision))(t)
	if r := must(s.GetPolicyCerts(ctx))(t); len(r.Certs) != 0 || r.Revision <= c2.Revision {
		t.Fatalf("after emptying: %+v", r)
	}
}

func testAuditPaging(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 10 {
		r := rec(audit.ActionRegister, "hello", fmt.Sprintf("v%d", i))
		r.Time = t0.Add(time.Duration(i) * time.Second)
		must(s.Commit(ctx, store.Change{Audit: []audit.Record{r}}))(t)
	}
	page := must(s.ListAudit(ctx, 3, 4))(t)
	if len(page) != 4 || page[0].Seq != 4 || page[3].Seq != 7 {
		t.Fatalf("page = %v", page)
	}
	if rest := must(s.ListAudit(ctx, 7, 0))(t); len(rest) != 3 || rest[2].Seq != 10 {
		t.Fatalf("rest = %v", rest)
	}
	if none := must(s.ListAudit(ctx, 10, 0))(t); len(none) != 0 {
		t.Fatalf("after head: %v", none)
	}
	if all := must(s.ListAudit(ctx, 0, 0))(t); audit.Verify(all) != nil || len(all) != 10 {
		t.Fatalf("chain of %d does not verify: %v", len(all), audit.Verify(all))
	}
	verify(t, s, 10)
}

func testListOrder(t *testing.T, s store.Store) {
	ctx := context.Background()
	i := 0
	for _, k := range [][2]string{{"ab", "v1"}, {"a", "z"}, {"a-b", "v1"}, {"a", "b"}} {
		i++
		must(s.Commit(ctx, store.Change{Releases: []store.ReleasePut{{Release: Candidate(t, k[0], k[1], i)}}}))(t)
	}
	var got []string
	for _, r := range must(s.ListReleases(ctx, ""))(t) {
		got = append(got, r.Release.App+"/"+r.Release.Name)
	}
	if want := "[a/b a/z a-b/v1 ab/v1]"; fmt.Sprint(got) != want {
		t.Fatalf("ListReleases(\"\") = %v, want %s", got, want)
	}
	if a := must(s.ListReleases(ctx, "a"))(t); len(a) != 2 || a[0].Release.Name != "b" {
		t.Fatalf("ListReleases(a) = %+v", a)
	}
}

func testCopies(t *testing.T, s store.Store) {
	ctx := context.Background()
	r := rec(audit.ActionRevoke, "hello", "v1")
	r.Details = map[string]string{"reason": "leak"}
	c := must(s.Commit(ctx, store.Change{Audit: []audit.Record{r}}))(t)
	r.Details["reason"] = "edited by caller"
	c.Entries[0].Details["reason"] = "edited by caller"
	es := must(s.ListAudit(ctx, 0, 0))(t)
	es[0].Details["reason"] = "edited by reader"
	if got := must(s.ListAudit(ctx, 0, 0))(t)[0].Details["reason"]; got != "leak" {
		t.Fatalf("stored entry changed through a caller's map: %q", got)
	}
	verify(t, s, 1)
}

// testConcurrentWriters runs read-modify-write increments of a counter held
// in a policy from several goroutines; conflicts are retried. No increment
// may be lost and the chain must stay valid.
func testConcurrentWriters(t *testing.T, s store.Store) {
	ctx := context.Background()
	const workers, perWorker = 6, 15
	var wg sync.WaitGroup
	var mu sync.Mutex
	conflicts := 0
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; {
				var n int
				var rev uint64
				p, err := s.GetPolicy(ctx, "SgxEnclave")
				switch {
				case err == nil:
					n, _ = strconv.Atoi(p.Text)
					rev = p.Revision
				case !errors.Is(err, store.ErrNotFound):
					errs <- err
					return
				}
				r := rec(audit.ActionPolicySet, "", "")
				r.Time = time.Now()
				r.Details = map[string]string{"worker": strconv.Itoa(w), "value": strconv.Itoa(n + 1)}
				_, err = s.Commit(ctx, store.Change{
					Policies: []store.PolicyPut{{Type: "SgxEnclave", Text: strconv.Itoa(n + 1), JWS: "j", UpdatedAt: t0, ExpectRevision: rev}},
					Audit:    []audit.Record{r},
				})
				if errors.Is(err, store.ErrConflict) {
					mu.Lock()
					conflicts++
					mu.Unlock()
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				i++
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	p := must(s.GetPolicy(ctx, "SgxEnclave"))(t)
	if p.Text != strconv.Itoa(workers*perWorker) {
		t.Fatalf("counter = %s, want %d (lost updates)", p.Text, workers*perWorker)
	}
	verify(t, s, workers*perWorker)
	t.Logf("%d conflicts retried", conflicts)
}

func testContext(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.ListReleases(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("ListReleases: %v", err)
	}
	if _, err := s.Commit(ctx, store.Change{Audit: []audit.Record{rec("register", "", "")}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit: %v", err)
	}
}

// testAppRevision: a store that keeps each app's revision as a record
// (store.AppRevisioner) agrees with AppRevision of the listed releases after
// creates, updates and writes to other apps; guards use the same value.
func testAppRevision(t *testing.T, s store.Store) {
	ctx := context.Background()
	ar, ok := s.(store.AppRevisioner)
	if !ok {
		t.Skip("the store lists an app's releases to check a guard (no store.AppRevisioner)")
	}
	check := func(app string) uint64 {
		t.Helper()
		recs, err := s.ListReleases(ctx, app)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ar.AppRevision(ctx, app)
		if err != nil || got != store.AppRevision(recs) {
			t.Fatalf("AppRevision(%s) = %d, %v; listing gives %d", app, got, err, store.AppRevision(recs))
		}
		return got
	}
	if check("nothing") != 0 {
		t.Fatal("an app without releases has revision 0")
	}
	for i, w := range []struct{ app, name string }{{"a", "v1"}, {"b", "v1"}, {"a", "v2"}, {"b", "v2"}, {"a", "v3"}} {
		rev := check(w.app)
		if _, err := s.Commit(ctx, store.Change{Guards: []store.AppGuard{{App: w.app, Revision: rev}},
			Releases: []store.ReleasePut{{Release: Candidate(t, w.app, w.name, 100+i)}}}); err != nil {
			t.Fatal(err)
		}
		check("a")
		check("b")
	}
	// An update of an older release raises the app's revision too.
	cur, err := s.GetRelease(ctx, "a", "v1")
	if err != nil {
		t.Fatal(err)
	}
	upd := cur.Release
	upd.MinISVSVN = 0
	c, err := s.Commit(ctx, store.Change{Guards: []store.AppGuard{{App: "a", Revision: check("a")}},
		Releases: []store.ReleasePut{{Release: upd, ExpectRevision: cur.Revision}}})
	if err != nil {
		t.Fatal(err)
	}
	if check("a") != c.Revision {
		t.Fatalf("after updating a/v1 the app's revision is not the commit's %d", c.Revision)
	}
	// A stale guard still conflicts.
	if _, err := s.Commit(ctx, store.Change{Guards: []store.AppGuard{{App: "a", Revision: c.Revision - 1}},
		Releases: []store.ReleasePut{{Release: Candidate(t, "a", "v4", 200)}}}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale guard: %v", err)
	}
}
