package attestd

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/store"
)

// crash is the panic a test's rotationStepHook raises to stop a rotation
// the way a kill would: nothing after the step runs.
type crash struct{ step string }

// crashAt runs fn with a crash injected after step; it reports whether the
// step was reached.
func crashAt(t *testing.T, step string, fn func()) (crashed bool) {
	t.Helper()
	rotationStepHook = func(s string) {
		if s == step {
			panic(crash{s})
		}
	}
	defer func() {
		rotationStepHook = nil
		if p := recover(); p != nil {
			if _, ok := p.(crash); !ok {
				panic(p)
			}
			crashed = true
		}
	}()
	fn()
	return false
}

// TestRotationKilledAtEveryStep is the reproduction of issue 13's third
// defect: a kill during a rotation left the new key in use without its
// signing-key-rotate entry. A rotation is stopped after each of its steps
// (and, with files, after each file); after a restart the key in use must
// be the one the log names last, by the rotation's own entry or by a repair
// entry (repair=true) the start wrote, and the chain must verify.
func TestRotationKilledAtEveryStep(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	const issuer = "https://a.example"
	steps := []string{"prepared", "audited"}
	for _, n := range keySetOrder {
		steps = append(steps, "stored "+n)
	}
	steps = append(steps, "stored")
	for _, backend := range []string{"files", "secret"} {
		for _, step := range steps {
			if backend != "files" && step != "prepared" && step != "audited" && step != "stored" {
				continue // an atomic backend has no step between its blobs
			}
			t.Run(backend+"/"+step, func(t *testing.T) {
				dir := t.TempDir()
				var ks keyStore = fileKeyStore{dir: dir}
				if backend != "files" {
					ks = &memKeyStore{}
				}
				st, err := store.OpenBolt(filepath.Join(dir, store.DefaultBoltFile), store.BoltOptions{})
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				reg := registry.New(st, registry.Options{})
				k0, err := loadKeySet(ctx, ks, issuer, now)
				if err != nil {
					t.Fatal(err)
				}
				// One complete rotation first, so the log names a key.
				k1, err := rotateAudited(ctx, ks, reg, "token:admin", k0, now)
				if err != nil {
					t.Fatal(err)
				}
				if !crashAt(t, step, func() { _, _ = rotateAudited(ctx, ks, reg, "token:admin", k1, now.Add(time.Minute)) }) {
					t.Fatalf("step %q never reached", step)
				}
				// Restart: load the keys, then what Start does with files.
				k2, err := loadKeySet(ctx, ks, issuer, now.Add(2*time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				repaired := false
				if backend == "files" {
					if repaired, err = auditKeyInUse(ctx, reg, k2); err != nil {
						t.Fatal(err)
					}
				}
				entries, err := reg.Audit(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if err := audit.Verify(entries); err != nil {
					t.Fatal(err)
				}
				named := map[string]bool{}
				var last audit.Entry
				for _, e := range entries {
					if e.Action == audit.ActionSigningKeyRotate {
						named[e.Details["kid"]] = true
						last = e
					}
				}
				if !named[k2.KeyID()] {
					t.Fatalf("after a crash at %q the key in use %s has no audit entry", step, k2.KeyID())
				}
				if backend == "files" && last.Details["kid"] != k2.KeyID() {
					t.Fatalf("after a crash at %q the log names %s last, but %s is in use", step, last.Details["kid"], k2.KeyID())
				}
				if repaired != (last.Details["repair"] == "true") {
					t.Fatalf("repaired %v, last entry %v", repaired, last.Details)
				}
				t.Logf("in use %s (rotated: %v), last entry %v", k2.KeyID(), k2.KeyID() != k1.KeyID(), last.Details)
			})
		}
	}
}
