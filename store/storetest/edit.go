package storetest

import (
	"encoding/json"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// Where EditBolt finds the objects of a bbolt store (see store.Bolt's layout).
const (
	BoltReleases    = "releases" // key: ReleaseKey(app, name)
	BoltPolicies    = "policies" // key: the attestation type
	BoltMeta        = "meta"
	BoltPolicyCerts = "policy-certs" // key in BoltMeta
)

// ReleaseKey is a release's key in the BoltReleases bucket.
func ReleaseKey(app, name string) string { return app + "\x00" + name }

// EditBolt edits the stored JSON under bucket/key of the closed bbolt store
// at path directly with bbolt, as someone holding the file could: edit
// changes the decoded object, which is written back as JSON. Nothing else
// (revision, audit log, head) changes.
func EditBolt(t testing.TB, path, bucket, key string, edit func(obj map[string]any)) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		var obj map[string]any
		if err := json.Unmarshal(b.Get([]byte(key)), &obj); err != nil {
			return err
		}
		edit(obj)
		v, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), v)
	})
	if err != nil {
		t.Fatalf("editing %s/%q in %s: %v", bucket, key, path, err)
	}
}
