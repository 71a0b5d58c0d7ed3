package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/storetest"
)

var st0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// audited commits ch with the audit records the registry would write.
func stateFixture(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	s, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := storetest.Candidate(t, "hello", "v1", 1)
	c, err := s.Commit(ctx, store.Change{Releases: []store.ReleasePut{{Release: r}},
		Audit: []audit.Record{{Time: st0, Actor: "op", Action: audit.ActionRegister, App: "hello", Release: "v1"}}})
	if err != nil {
		t.Fatal(err)
	}
	ret, err := r.Retire(st0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []store.Change{
		{Releases: []store.ReleasePut{{Release: ret, ExpectRevision: c.Revision}},
			Audit: []audit.Record{{Time: st0, Actor: "op", Action: audit.ActionRetire, App: "hello", Release: "v1"}}},
		{Policies: []store.PolicyPut{{Type: "SgxEnclave", Text: "policy", JWS: "jws", UpdatedAt: st0}},
			Audit: []audit.Record{{Time: st0, Actor: "op", Action: audit.ActionPolicySet, Details: map[string]string{"attestation_type": "SgxEnclave"}}}},
		{PolicyCerts: &store.PolicyCertsPut{Certs: []store.PolicyCert{{Thumbprint: store.PolicyCertThumbprint([]byte("der")), DER: []byte("der"), AddedAt: st0}}},
			Audit: []audit.Record{{Time: st0, Actor: "op", Action: audit.ActionPolicyCertAdd}}},
	} {
		if _, err := s.Commit(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
}

// TestVerifyStateOfflineEdit edits a closed bbolt file directly, keeping
// revisions, so that the hash chain still verifies; replaying the log finds
// the edited object.
func TestVerifyStateOfflineEdit(t *testing.T) {
	tests := []struct {
		name, bucket, key string
		edit              func(map[string]any)
		object, field     string
	}{
		{"retired release made active", storetest.BoltReleases, storetest.ReleaseKey("hello", "v1"),
			func(o map[string]any) { o["release"].(map[string]any)["state"] = "active" }, "release hello/v1", "state"},
		{"release measurement replaced", storetest.BoltReleases, storetest.ReleaseKey("hello", "v1"),
			func(o map[string]any) { o["release"].(map[string]any)["mrenclave"] = storetest.Measurement(7) }, "release hello/v1", "mrenclave"},
		{"policy text replaced", storetest.BoltPolicies, "SgxEnclave",
			func(o map[string]any) { o["text"] = "permissive" }, "policy SgxEnclave", "text_sha256"},
		{"policy certificate's time changed", storetest.BoltMeta, storetest.BoltPolicyCerts,
			func(o map[string]any) { o["certs"].([]any)[0].(map[string]any)["added_at"] = "2020-01-01T00:00:00Z" }, "policy-certificates", "sha256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "sgxops.db")
			stateFixture(t, path)
			storetest.EditBolt(t, path, tc.bucket, tc.key, tc.edit)
			s, err := store.OpenBolt(path, store.BoltOptions{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := store.VerifyLog(ctx, s); err != nil {
				t.Fatalf("the chain alone should still verify: %v", err)
			}
			_, err = store.VerifyState(ctx, s)
			var se *store.StateError
			if !errors.As(err, &se) || !errors.Is(err, store.ErrStateMismatch) {
				t.Fatalf("VerifyState = %v, want a *StateError", err)
			}
			if se.Object != tc.object || se.Field != tc.field {
				t.Fatalf("first difference %q field %q, want %q field %q: %v", se.Object, se.Field, tc.object, tc.field, err)
			}
			t.Log(err)
		})
	}
	t.Run("unedited", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sgxops.db")
		stateFixture(t, path)
		s, err := store.OpenBolt(path, store.BoltOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		st, err := store.VerifyState(context.Background(), s)
		if err != nil || st.Releases != 1 || st.Policies != 1 || !st.PolicyCerts || st.Entries != 4 {
			t.Fatalf("VerifyState = %+v, %v", st, err)
		}
	})
}

// TestReplayLegacyLog: entries written before state records make the objects
// they name unproven until an entry records their state.
func TestReplayLegacyLog(t *testing.T) {
	r := storetest.Candidate(t, "hello", "v1", 1)
	var head audit.Head
	var es []audit.Entry
	add := func(rec audit.Record) {
		e, err := audit.Seal(head, rec)
		if err != nil {
			t.Fatal(err)
		}
		es, head = append(es, e), e.Head()
	}
	add(audit.Record{Time: st0, Actor: "old", Action: audit.ActionRegister, App: "hello", Release: "v1"})
	add(audit.Record{Time: st0, Actor: "old", Action: audit.ActionRegister, App: "hello", Release: "v2"})
	add(audit.Record{Time: st0, Actor: "old", Action: audit.ActionPolicySet, Details: map[string]string{"attestation_type": "SgxEnclave"}})
	add(audit.Record{Time: st0, Actor: "old", Action: audit.ActionPolicyCertAdd})
	st, err := store.Replay(es)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(st.Unproven.Names(), ","); got != "release hello/v1,release hello/v2,policy SgxEnclave,policy-certificates" {
		t.Fatalf("unproven %s", got)
	}
	// The new version writes v1's state: v1 is proven again.
	j := `{"app":"hello","name":"v1","mrenclave":"` + r.MREnclave + `","isv_prod_id":0,"min_isv_svn":0,"state":"candidate","created_at":"2026-11-23T12:00:00Z","updated_at":"2026-11-23T12:00:00Z"}`
	add(audit.Record{Time: st0, Actor: "new", Action: audit.ActionRetire, App: "hello", Release: "v1",
		Details: map[string]string{store.DetailReleaseState: j, store.DetailRevision: "5"}})
	// After the first state record, an entry without one wrote nothing.
	add(audit.Record{Time: st0, Actor: "new", Action: audit.ActionRevoke, App: "hello", Release: "v3"})
	if st, err = store.Replay(es); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(st.Unproven.Names(), ","); got != "release hello/v2,policy SgxEnclave,policy-certificates" {
		t.Fatalf("unproven %s", got)
	}
	if got := st.Releases[store.ReleaseKey{App: "hello", Name: "v1"}]; got.Revision != 5 || got.Release.State != release.Candidate {
		t.Fatalf("replayed %+v", got)
	}
	// A state record that does not name its entry's release is refused.
	add(audit.Record{Time: st0, Actor: "new", Action: audit.ActionRetire, App: "hello", Release: "v2",
		Details: map[string]string{store.DetailReleaseState: j, store.DetailRevision: "6"}})
	if _, err := store.Replay(es); !errors.Is(err, store.ErrStateMismatch) {
		t.Fatalf("mismatched state record: %v", err)
	}
}

// racingStore commits through commit each time the stored releases are
// listed, as another replica writing while VerifyState reads.
type racingStore struct {
	store.Store
	t      *testing.T
	calls  int
	commit func(n int) *store.Change
}

func (r *racingStore) ListReleases(ctx context.Context, app string) ([]store.ReleaseRecord, error) {
	r.calls++
	if ch := r.commit(r.calls); ch != nil {
		if _, err := r.Store.Commit(ctx, *ch); err != nil {
			r.t.Fatal(err)
		}
	}
	return r.Store.ListReleases(ctx, app)
}

// TestVerifyStateConcurrentCommits: a commit that lands between reading the
// log and reading the objects is not a mismatch; a check that never settles
// says so rather than report one.
func TestVerifyStateConcurrentCommits(t *testing.T) {
	ctx := context.Background()
	register := func(name string, i int) *store.Change {
		return &store.Change{Releases: []store.ReleasePut{{Release: storetest.Candidate(t, "hello", name, i)}},
			Audit: []audit.Record{{Time: st0, Actor: "replica", Action: audit.ActionRegister, App: "hello", Release: name}}}
	}
	once := &racingStore{Store: store.NewMemory(), t: t, commit: func(n int) *store.Change {
		if n == 1 {
			return register("v1", 1)
		}
		return nil
	}}
	st, err := store.VerifyState(ctx, once)
	if err != nil || st.Releases != 1 || once.calls != 2 {
		t.Fatalf("VerifyState with one concurrent commit = %+v, %v (%d listings)", st, err, once.calls)
	}
	always := &racingStore{Store: store.NewMemory(), t: t, commit: func(n int) *store.Change {
		return register(fmt.Sprintf("v%d", n), n)
	}}
	if _, err := store.VerifyState(ctx, always); !errors.Is(err, store.ErrStateUnsettled) || errors.Is(err, store.ErrStateMismatch) {
		t.Fatalf("VerifyState under constant commits: %v", err)
	}
}
