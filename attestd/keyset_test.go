package attestd

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"strconv"
	"sync"
	"testing"
	"time"
)

// memKeyStore is a keyStore with the Secret's semantics (versioned, all or
// nothing, stale versions refused) in memory, for the shared logic's tests;
// the Secret itself is tested on a real API server in test/cluster.
type memKeyStore struct {
	mu      sync.Mutex
	blobs   keyBlobs
	version int
	writes  int
	// beforeWrite, when set, runs before a write is applied (a racing
	// replica's write).
	beforeWrite func()
}

func (m *memKeyStore) where(name string) string { return "mem:" + name }

func (m *memKeyStore) read(context.Context) (keyBlobs, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.version == 0 {
		return keyBlobs{}, "", nil
	}
	return maps.Clone(m.blobs), strconv.Itoa(m.version), nil
}

func (m *memKeyStore) write(_ context.Context, want, have keyBlobs, version string) ([]string, string, error) {
	if m.beforeWrite != nil {
		f := m.beforeWrite
		m.beforeWrite = nil
		f()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if maps.EqualFunc(want, have, bytes.Equal) && version != "" {
		return nil, version, nil
	}
	cur := ""
	if m.version > 0 {
		cur = strconv.Itoa(m.version)
	}
	if version != cur {
		return nil, "", errKeySetChanged
	}
	m.blobs, m.writes = maps.Clone(want), m.writes+1
	m.version++
	return keySetOrder, strconv.Itoa(m.version), nil
}

// TestKeySetShared: replicas racing on first start end with one key set (the
// loser re-reads); a rotation from a stale version changes nothing and says
// so; a follower decodes what another replica stored without writing.
func TestKeySetShared(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	const iss = "https://attestd.example"
	ks := &memKeyStore{}
	var winner *SigningKey
	ks.beforeWrite = func() {
		// Another replica stores its key set between this one's read and write.
		var err error
		if winner, err = loadKeySet(ctx, ks, iss, now); err != nil {
			t.Fatal(err)
		}
	}
	k, err := loadKeySet(ctx, ks, iss, now)
	if err != nil {
		t.Fatal(err)
	}
	if k.KeyID() != winner.KeyID() || k.NextKeyID() != winner.NextKeyID() || k.Created() || !winner.Created() || ks.writes != 1 {
		t.Fatalf("race on first start: loser kid %s created %v, winner kid %s created %v, %d writes", k.KeyID(), k.Created(), winner.KeyID(), winner.Created(), ks.writes)
	}
	// A restart reads without writing.
	if k2, err := loadKeySet(ctx, ks, iss, now); err != nil || k2.KeyID() != k.KeyID() || ks.writes != 1 {
		t.Fatalf("restart: %v, %d writes", err, ks.writes)
	}

	// Replica 1 rotates; replica 2 still holds the old version.
	r1, err := rotateKeySet(ctx, ks, k, now.Add(time.Minute))
	if err != nil || r1.KeyID() != k.NextKeyID() {
		t.Fatalf("rotation: %v, kid %s want %s", err, kidOf(r1), k.NextKeyID())
	}
	stale, err := rotateKeySet(ctx, ks, winner, now.Add(2*time.Minute))
	if stale != nil || !errors.Is(err, errKeySetChanged) {
		t.Fatalf("rotation from a stale version: %v, %v", stale, err)
	}
	have, version, _ := ks.read(ctx)
	followed, _, _, err := decodeKeySet(ks, have, iss, now.Add(2*time.Minute), false)
	if err != nil || followed.KeyID() != r1.KeyID() || !bytes.Equal(followed.JWKS(), r1.JWKS()) || version != r1.version {
		t.Fatalf("follower: %v, kid %s want %s, version %s want %s", err, kidOf(followed), r1.KeyID(), version, r1.version)
	}
	// A follower never invents a key for an incomplete set.
	delete(have, NextSigningKeyFile)
	if _, _, _, err := decodeKeySet(ks, have, iss, now, false); err == nil {
		t.Fatal("a follower accepted a key set without its next key")
	}
}

func TestNewerVersion(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{{"10", "9", true}, {"9", "10", false}, {"5", "5", false}, {"x", "y", true}, {"5", "", true}} {
		if got := newerVersion(tt.a, tt.b); got != tt.want {
			t.Errorf("newerVersion(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
	for _, tt := range []struct {
		a, b string
		want bool
	}{{"9", "10", true}, {"10", "9", false}, {"5", "5", false}, {"", "5", false}, {"5", "", false}, {"x", "y", false}} {
		if got := versionBefore(tt.a, tt.b); got != tt.want {
			t.Errorf("versionBefore(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}

// TestSigningKeyVersions: a rotation's own result never replaces a newer
// version the follower installed meanwhile, and the follower never installs
// an older one.
func TestSigningKeyVersions(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	mk := func(v string) *SigningKey {
		k, err := NewSigningKey(testRSAKey(t, 1), e.cfg.Issuer, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		k.version = v
		return k
	}
	k7, k8, k9 := mk("7"), mk("8"), mk("9")
	e.srv.setSigningKey(k8)
	e.srv.followSigningKey(k7)
	if e.srv.key.Load() != k8 {
		t.Fatal("the follower installed an older version")
	}
	e.srv.followSigningKey(k9)
	e.srv.setSigningKey(k8) // a rotation that finished after another replica's
	if e.srv.key.Load() != k9 {
		t.Fatal("a rotation's result replaced a newer version")
	}
}
