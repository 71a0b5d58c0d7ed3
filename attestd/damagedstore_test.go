package attestd

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/sim"
	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/storetest"
)

// TestStartRefusesDamagedStore: a flipped child page id in a branch page of
// the bbolt file (issue 13) made attestd segfault on the first audit read;
// it must refuse to start, naming the file and the damage.
func TestStartRefusesDamagedStore(t *testing.T) {
	plat, err := sim.New([]byte("damaged store"), sim.Config{}, sim.Options{})
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
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	storetest.DamagedBolt(t, store.BoltPath(data), 3000)
	cfg, err := config.ParseFlags([]string{"--listen", "127.0.0.1:0", "--issuer", "https://localhost", "--data-dir", data,
		"--collateral", bundleFile, "--insecure-simulation-root", rootFile}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Start(context.Background(), cfg, testLogger(&syncBuffer{}, "info"))
	if err == nil {
		_ = r.Stop()
		t.Fatal("attestd started on a damaged store")
	}
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), store.BoltPath(data)) {
		t.Fatalf("Start = %v, want ErrCorrupt naming %s", err, store.BoltPath(data))
	}
	t.Log(err)
}
