package store_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/storetest"
)

// TestBoltMigratesSchema1: a file written before the apps bucket existed is
// read as it is read-only (guards list the releases) and migrated to schema 2
// when opened read-write, with each app's revision computed from its
// releases.
func TestBoltMigratesSchema1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), store.DefaultBoltFile)
	s := openBolt(t, path, store.BoltOptions{})
	var want = map[string]uint64{}
	for i, app := range []string{"a", "b", "a", "c", "a"} {
		c, err := s.Commit(ctx, store.Change{Releases: []store.ReleasePut{{Release: storetest.Candidate(t, app, "v"+string(rune('0'+i)), i)}}})
		if err != nil {
			t.Fatal(err)
		}
		want[app] = c.Revision
	}
	s.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error { // back to schema 1
		if err := tx.DeleteBucket([]byte("apps")); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, 1))
	})
	for _, ro := range []bool{true, false} {
		s := openBolt(t, path, store.BoltOptions{ReadOnly: ro})
		for app, rev := range want {
			if got, err := s.AppRevision(ctx, app); err != nil || got != rev {
				t.Errorf("read-only %v: AppRevision(%s) = %d, %v; want %d", ro, app, got, err, rev)
			}
		}
		s.Close()
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		if v := binary.BigEndian.Uint64(tx.Bucket([]byte("meta")).Get([]byte("schema"))); v != store.SchemaVersion || tx.Bucket([]byte("apps")) == nil {
			t.Errorf("after a read-write open: schema %d, apps bucket %v", v, tx.Bucket([]byte("apps")) != nil)
		}
		return nil
	})
}

// TestBoltGuardReadsOneRecord: an AppGuard is checked against the app's
// revision record, not by decoding every release of the app (which made a
// write's cost grow with the app). A release record made undecodable
// offline shows it: the guarded commit does not read it.
func TestBoltGuardReadsOneRecord(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), store.DefaultBoltFile)
	s := openBolt(t, path, store.BoltOptions{})
	var ch store.Change
	for i := range 1500 {
		ch.Releases = append(ch.Releases, store.ReleasePut{Release: storetest.Candidate(t, "big", fmt.Sprintf("r%05d", i), i)})
	}
	c, err := s.Commit(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("releases")).Put([]byte("big\x00r00700"), []byte("{not json"))
	})
	s = openBolt(t, path, store.BoltOptions{})
	defer s.Close()
	if _, err := s.Commit(ctx, store.Change{Guards: []store.AppGuard{{App: "big", Revision: c.Revision}},
		Releases: []store.ReleasePut{{Release: storetest.Candidate(t, "big", "new", 9999)}}}); err != nil {
		t.Fatalf("guarded commit read the app's releases: %v", err)
	}
}
