package attestd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/sim"
	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/storetest"
)

// trustSetFixture writes a store in data through the registry: hello/v1
// retired, hello/v2 active, an SgxEnclave policy, one policy-management
// certificate.
func trustSetFixture(t *testing.T, data string) {
	t.Helper()
	ctx := context.Background()
	s, err := store.OpenBolt(store.BoltPath(data), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reg := registry.New(s, registry.Options{})
	for i, name := range []string{"v1", "v2"} {
		if _, err := reg.Register(ctx, "ci", release.Release{App: "hello", Name: name, MREnclave: storetest.Measurement(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Activate(ctx, "op", "hello", name, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reg.Retire(ctx, "op", "hello", "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.SetPolicy(ctx, "admin", "SgxEnclave", "version=1.0; authorizationrules{=> deny();};", "e30.e30."); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "policy signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.AddPolicyCert(ctx, "admin", der); err != nil {
		t.Fatal(err)
	}
}

// TestStartRefusesStateNotInLog: the store's file is edited offline (with
// bbolt, revisions kept, so the audit chain still verifies); attestd must
// refuse to start and name the object. Unedited, it starts.
func TestStartRefusesStateNotInLog(t *testing.T) {
	plat, err := sim.New([]byte("state not in log"), sim.Config{}, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	coll, err := plat.Collateral(plat.Request(sim.TEESGX))
	if err != nil {
		t.Fatal(err)
	}
	bundle, _ := coll.MarshalBundle()
	bundleFile, rootFile := filepath.Join(dir, "bundle.json"), filepath.Join(dir, "root.pem")
	_ = os.WriteFile(bundleFile, bundle, 0o644)
	_ = os.WriteFile(rootFile, plat.RootPEM(), 0o644)
	tests := []struct {
		name, bucket, key string
		edit              func(map[string]any)
		want              string // "" = starts
	}{
		{"unedited", "", "", nil, ""},
		{"retired release made active", storetest.BoltReleases, storetest.ReleaseKey("hello", "v1"),
			func(o map[string]any) { o["release"].(map[string]any)["state"] = "active" }, "release hello/v1"},
		{"policy replaced", storetest.BoltPolicies, "SgxEnclave",
			func(o map[string]any) { o["text"] = "version=1.0; authorizationrules{=> permit();};" }, "policy SgxEnclave"},
		{"policy certificate set replaced", storetest.BoltMeta, storetest.BoltPolicyCerts,
			func(o map[string]any) { o["certs"].([]any)[0].(map[string]any)["added_at"] = "2020-01-01T00:00:00Z" }, "policy-certificates"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			if err := os.MkdirAll(data, 0o700); err != nil {
				t.Fatal(err)
			}
			trustSetFixture(t, data)
			if tc.edit != nil {
				storetest.EditBolt(t, store.BoltPath(data), tc.bucket, tc.key, tc.edit)
			}
			cfg, err := config.ParseFlags([]string{"--listen", "127.0.0.1:0", "--issuer", "https://localhost", "--data-dir", data,
				"--collateral", bundleFile, "--insecure-simulation-root", rootFile}, os.Stderr)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Start(context.Background(), cfg, testLogger(&syncBuffer{}, "info"))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Start on an unedited store: %v", err)
				}
				_ = r.Stop()
				return
			}
			if err == nil {
				_ = r.Stop()
				t.Fatal("attestd started on a store edited outside its log")
			}
			if !errors.Is(err, store.ErrStateMismatch) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Start = %v, want ErrStateMismatch naming %s", err, tc.want)
			}
			t.Log(err)
		})
	}
}

// TestStateWatch: the periodic check turns the store not ready, naming the
// object, once the store differs from its log; it stays ready otherwise.
func TestStateWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := store.NewMemory()
	w := &stateWatch{st: st, every: 5 * time.Millisecond, log: testLogger(&syncBuffer{}, "info")}
	ready := w.ready(func(context.Context) error { return nil })
	go w.run(ctx)
	reg := registry.New(st, registry.Options{})
	if _, err := reg.Register(ctx, "ci", release.Release{App: "hello", Name: "v1", MREnclave: storetest.Measurement(1)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := ready(ctx); err != nil {
		t.Fatalf("ready on a store that matches its log: %v", err)
	}
	// A write that the log does not record (what an edit amounts to).
	if _, err := st.Commit(ctx, store.Change{Releases: []store.ReleasePut{{Release: storetest.Candidate(t, "hello", "v2", 2)}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ready(ctx) == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := ready(ctx); !errors.Is(err, store.ErrStateMismatch) || !strings.Contains(err.Error(), "release hello/v2") {
		t.Fatalf("ready after an edit: %v", err)
	}
}
