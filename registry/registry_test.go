package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// clock is a manual clock for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func mrenclave(i int) string { return fmt.Sprintf("%064x", 0xabc000+i) }

func rel(app, name string, i int) release.Release {
	return release.Release{App: app, Name: name, MREnclave: strings.ToUpper(mrenclave(i))}
}

// openBolt returns a registry on a real bbolt file.
func openBolt(t *testing.T, clk *clock) (*registry.Registry, store.Store) {
	t.Helper()
	s, err := store.OpenBolt(filepath.Join(t.TempDir(), store.DefaultBoltFile), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	opts := registry.Options{}
	if clk != nil {
		opts.Now = clk.Now
	}
	return registry.New(s, opts), s
}

func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestLifecycleAndAudit(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	reg, s := openBolt(t, clk)

	v1 := must(reg.Register(ctx, "ci", rel("hello", "v1", 1)))(t)
	if v1.State != release.Candidate || v1.MREnclave != mrenclave(1) || !v1.CreatedAt.Equal(t0) {
		t.Fatalf("registered %+v", v1)
	}
	must(reg.Activate(ctx, "operator", "hello", "v1", time.Hour))(t)
	clk.Add(time.Minute)
	must(reg.Register(ctx, "ci", release.Release{App: "hello", Name: "v2", MRSigner: mrenclave(9), ISVProdID: 3, MinISVSVN: 2}))(t)
	v2 := must(reg.Activate(ctx, "operator", "hello", "v2", 30*time.Minute))(t)
	if v2.State != release.Active {
		t.Fatalf("v2 %+v", v2)
	}
	got := must(reg.Get(ctx, "hello", "v1"))(t)
	if got.State != release.Draining || !got.DrainUntil.Equal(t0.Add(31*time.Minute)) || got.DrainExpired {
		t.Fatalf("v1 after promotion: %+v", got)
	}

	clk.Add(31 * time.Minute) // v1's grace ends exactly now
	list := must(reg.List(ctx, "hello"))(t)
	if len(list) != 2 || list[0].Name != "v1" || !list[0].DrainExpired || list[1].DrainExpired {
		t.Fatalf("List = %+v", list)
	}
	if _, err := reg.Activate(ctx, "operator", "hello", "v1", time.Hour); !errors.Is(err, release.ErrInvalidTransition) {
		t.Fatalf("rollback after grace: %v", err)
	}
	swept := must(reg.Sweep(ctx, "sweeper"))(t)
	if len(swept) != 1 || swept[0].Name != "v1" || swept[0].State != release.Retired {
		t.Fatalf("Sweep = %+v", swept)
	}
	if again := must(reg.Sweep(ctx, "sweeper"))(t); again != nil {
		t.Fatalf("second Sweep = %+v", again)
	}
	must(reg.Revoke(ctx, "security", "hello", "v2", "signing key leaked"))(t)
	must(reg.SetPolicy(ctx, "admin", "SgxEnclave", "version=1.0; authorizationrules{=> permit();};", "eyJhbGciOiJub25lIn0.e30."))(t)
	if err := reg.ResetPolicy(ctx, "admin", "SgxEnclave"); err != nil {
		t.Fatal(err)
	}

	entries := must(reg.Audit(ctx))(t)
	var got2 []string
	for _, e := range entries {
		got2 = append(got2, fmt.Sprintf("%s:%s:%s/%s", e.Actor, e.Action, e.App, e.Release))
	}
	want := []string{
		"ci:register:hello/v1", "operator:activate:hello/v1", "ci:register:hello/v2",
		"operator:activate:hello/v2", "operator:drain:hello/v1", "sweeper:retire:hello/v1",
		"security:revoke:hello/v2", "admin:policy-set:/", "admin:policy-reset:/",
	}
	if strings.Join(got2, " ") != strings.Join(want, " ") {
		t.Fatalf("audit log\n got %v\nwant %v", got2, want)
	}
	details := []map[string]string{
		{"mrenclave": mrenclave(1)},
		{"from": "candidate"},
		{"mrsigner": mrenclave(9), "isv_prod_id": "3", "min_isv_svn": "2"},
		{"from": "candidate", "demoted": "v1", "grace": "30m0s"},
		{"from": "active", "successor": "v2", "grace": "30m0s", "drain_until": "2026-11-23T12:31:00Z"},
		{"from": "draining", "cause": "drain expired", "drain_until": "2026-11-23T12:31:00Z"},
		{"from": "active", "reason": "signing key leaked"},
	}
	// Each entry carries the state its commit wrote (the store adds it).
	states := []string{"candidate", "active", "candidate", "active", "draining", "retired", "revoked"}
	for i, d := range details {
		got := maps.Clone(entries[i].Details)
		var rs release.Release
		if err := json.Unmarshal([]byte(got[store.DetailReleaseState]), &rs); err != nil || string(rs.State) != states[i] || got[store.DetailRevision] == "" {
			t.Errorf("entry %d state %q (revision %q), want %s", i+1, got[store.DetailReleaseState], got[store.DetailRevision], states[i])
		}
		delete(got, store.DetailReleaseState)
		delete(got, store.DetailRevision)
		if fmt.Sprint(got) != fmt.Sprint(d) {
			t.Errorf("entry %d details %v, want %v", i+1, got, d)
		}
	}
	for _, i := range []int{7, 8} {
		if entries[i].Details[store.DetailPolicyState] == "" {
			t.Errorf("entry %d has no policy state: %v", i+1, entries[i].Details)
		}
	}
	if _, err := store.VerifyState(ctx, s); err != nil {
		t.Fatalf("replaying the registry's log: %v", err)
	}
	if ps := entries[7].Details; ps["attestation_type"] != "SgxEnclave" || len(ps["policy_sha256"]) != 64 || len(ps["jws_sha256"]) != 64 {
		t.Errorf("policy-set details %v", ps)
	}
	if entries[8].Details["had_policy"] != "true" {
		t.Errorf("policy-reset details %v", entries[8].Details)
	}
	st := must(reg.VerifyAudit(ctx))(t)
	if st.Entries != uint64(len(want)) || st.Head.Hash != entries[len(entries)-1].Hash {
		t.Fatalf("VerifyAudit = %+v", st)
	}
}

func TestRollbackWithinGrace(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	reg, _ := openBolt(t, clk)
	for i, n := range []string{"blue", "green"} {
		must(reg.Register(ctx, "ci", rel("app", n, i)))(t)
		must(reg.Activate(ctx, "op", "app", n, time.Hour))(t)
	}
	clk.Add(10 * time.Minute)
	blue := must(reg.Activate(ctx, "op", "app", "blue", 5*time.Minute))(t)
	green := must(reg.Get(ctx, "app", "green"))(t)
	if blue.State != release.Active || !blue.DrainUntil.IsZero() || green.State != release.Draining ||
		!green.DrainUntil.Equal(t0.Add(15*time.Minute)) {
		t.Fatalf("after rollback: blue %+v green %+v", blue, green)
	}
}

func TestRegisterRejects(t *testing.T) {
	ctx := context.Background()
	reg, _ := openBolt(t, &clock{now: t0})
	must(reg.Register(ctx, "ci", rel("hello", "v1", 1)))(t)
	must(reg.Register(ctx, "ci", rel("other", "v1", 1)))(t) // same identity, other app: fine

	if _, err := reg.Register(ctx, "ci", rel("hello", "v1", 2)); !errors.Is(err, registry.ErrExists) {
		t.Errorf("same name: %v", err)
	}
	if _, err := reg.Register(ctx, "ci", rel("hello", "v1-copy", 1)); !errors.Is(err, registry.ErrDuplicateIdentity) {
		t.Errorf("same identity: %v", err)
	}
	must(reg.Retire(ctx, "op", "hello", "v1"))(t)
	must(reg.Register(ctx, "ci", rel("hello", "v1-rebuilt", 1)))(t) // a retired identity may return
	must(reg.Revoke(ctx, "op", "hello", "v1-rebuilt", "compromised"))(t)
	if _, err := reg.Register(ctx, "ci", rel("hello", "v1-again", 1)); !errors.Is(err, registry.ErrDuplicateIdentity) {
		t.Errorf("revoked identity: %v", err)
	}

	bad := rel("hello", "v3", 3)
	bad.MREnclave = bad.MREnclave[:10] + "x" + bad.MREnclave[11:]
	var fe *release.FieldError
	if _, err := reg.Register(ctx, "ci", bad); !errors.As(err, &fe) || fe.Field != "mrenclave" || fe.Offset != 10 {
		t.Errorf("bad hex: %v", err)
	}
	for _, actor := range []string{"", "a\nb", strings.Repeat("x", registry.MaxActorLen+1), "\xff"} {
		if _, err := reg.Register(ctx, actor, rel("hello", "v4", 4)); !errors.Is(err, registry.ErrInvalidActor) {
			t.Errorf("actor %q: %v", actor, err)
		}
	}
	if n := len(must(reg.Audit(ctx))(t)); n != 5 {
		t.Errorf("%d audit entries, want 5 (rejected operations must not be audited)", n)
	}
}

func TestOperationErrors(t *testing.T) {
	ctx := context.Background()
	reg, _ := openBolt(t, &clock{now: t0})
	must(reg.Register(ctx, "ci", rel("hello", "v1", 1)))(t)
	must(reg.Retire(ctx, "op", "hello", "v1"))(t)
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"activate missing", second(reg.Activate(ctx, "op", "hello", "nope", 0)), store.ErrNotFound},
		{"drain missing", second(reg.Drain(ctx, "op", "hello", "nope", 0)), store.ErrNotFound},
		{"activate retired", second(reg.Activate(ctx, "op", "hello", "v1", 0)), release.ErrInvalidTransition},
		{"drain retired", second(reg.Drain(ctx, "op", "hello", "v1", time.Hour)), release.ErrInvalidTransition},
		{"retire retired", second(reg.Retire(ctx, "op", "hello", "v1")), release.ErrInvalidTransition},
		{"revoke without reason", second(reg.Revoke(ctx, "op", "hello", "v1", "")), release.ErrInvalid},
		{"negative grace", second(reg.Activate(ctx, "op", "hello", "v1", -time.Second)), release.ErrInvalid},
		{"bad app", second(reg.Retire(ctx, "op", "Hello", "v1")), release.ErrInvalid},
		{"bad policy type", second(reg.SetPolicy(ctx, "op", "sgx enclave", "p", "j")), registry.ErrInvalidPolicy},
		{"empty policy", second(reg.SetPolicy(ctx, "op", "SgxEnclave", "", "j")), registry.ErrInvalidPolicy},
		{"reset bad type", reg.ResetPolicy(ctx, "op", ""), registry.ErrInvalidPolicy},
		{"get missing", second(reg.Get(ctx, "hello", "v9")), store.ErrNotFound},
		{"policy missing", second(reg.Policy(ctx, "SgxEnclave")), store.ErrNotFound},
	}
	for _, tc := range tests {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if n := len(must(reg.Audit(ctx))(t)); n != 2 {
		t.Errorf("%d audit entries, want 2", n)
	}
}

func second[T any](_ T, err error) error { return err }

func TestPolicies(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	reg, _ := openBolt(t, clk)
	if err := reg.ResetPolicy(ctx, "admin", "SgxEnclave"); err != nil {
		t.Fatal(err)
	}
	p1 := must(reg.SetPolicy(ctx, "admin", "SgxEnclave", "text-1", "jws-1"))(t)
	clk.Add(time.Second)
	p2 := must(reg.SetPolicy(ctx, "admin", "SgxEnclave", "text-2", "jws-2"))(t)
	got := must(reg.Policy(ctx, "SgxEnclave"))(t)
	if got != p2 || got.Text != "text-2" || got.JWS != "jws-2" || p2.Revision <= p1.Revision || !got.UpdatedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("Policy = %+v (set %+v)", got, p2)
	}
	must(reg.SetPolicy(ctx, "admin", "OpenEnclave", "oe", "oe-jws"))(t)
	if ps := must(reg.Policies(ctx))(t); len(ps) != 2 {
		t.Fatalf("Policies = %+v", ps)
	}
	entries := must(reg.Audit(ctx))(t)
	if entries[0].Action != audit.ActionPolicyReset || entries[0].Details["had_policy"] != "false" {
		t.Fatalf("first entry %+v", entries[0])
	}
	if entries[2].Details["policy_sha256"] != sha("text-2") {
		t.Fatalf("policy digest %v", entries[2].Details)
	}
}
