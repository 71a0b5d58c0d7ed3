package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/sgxops/sgxops/audit"
)

// boltTxn implements txn on a bbolt transaction; bbolt rolls everything back
// when applyChange fails.
type boltTxn struct{ tx *bolt.Tx }

func decodeRelease(k, v []byte) (ReleaseRecord, error) {
	var r ReleaseRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return r, fmt.Errorf("store: release %q: %v: %w", k, err, ErrCorrupt)
	}
	if !bytes.Equal(k, []byte(releaseKey(r.Release.App, r.Release.Name))) {
		return r, fmt.Errorf("store: release %q: stored under the wrong key: %w", k, ErrCorrupt)
	}
	return r, nil
}

func decodePolicy(k, v []byte) (PolicyRecord, error) {
	var p PolicyRecord
	if err := json.Unmarshal(v, &p); err != nil {
		return p, fmt.Errorf("store: policy %q: %v: %w", k, err, ErrCorrupt)
	}
	if p.Type != string(k) {
		return p, fmt.Errorf("store: policy %q: stored under the wrong key: %w", k, ErrCorrupt)
	}
	return p, nil
}

func (t boltTxn) getRelease(app, name string) (ReleaseRecord, bool, error) {
	k := []byte(releaseKey(app, name))
	v := t.tx.Bucket(bucketReleases).Get(k)
	if v == nil {
		return ReleaseRecord{}, false, nil
	}
	r, err := decodeRelease(k, v)
	return r, err == nil, err
}

func (t boltTxn) listReleases(app string) ([]ReleaseRecord, error) {
	var out []ReleaseRecord
	prefix := []byte(app + "\x00")
	c := t.tx.Bucket(bucketReleases).Cursor()
	k, v := c.First()
	if app != "" {
		k, v = c.Seek(prefix)
	}
	for ; k != nil && (app == "" || bytes.HasPrefix(k, prefix)); k, v = c.Next() {
		r, err := decodeRelease(k, v)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (t boltTxn) getPolicy(typ string) (PolicyRecord, bool, error) {
	v := t.tx.Bucket(bucketPolicies).Get([]byte(typ))
	if v == nil {
		return PolicyRecord{}, false, nil
	}
	p, err := decodePolicy([]byte(typ), v)
	return p, err == nil, err
}

func (t boltTxn) getPolicyCerts() (PolicyCertsRecord, error) {
	var r PolicyCertsRecord
	v := t.tx.Bucket(bucketMeta).Get(keyPolicyCerts)
	if v == nil {
		return r, nil
	}
	if err := json.Unmarshal(v, &r); err != nil {
		return r, fmt.Errorf("store: policy certificates: %v: %w", err, ErrCorrupt)
	}
	if err := checkPolicyCerts(r.Certs); err != nil {
		return r, fmt.Errorf("store: policy certificates: %v: %w", err, ErrCorrupt)
	}
	return r, nil
}

func (t boltTxn) putPolicyCerts(r PolicyCertsRecord) error {
	return t.putJSON(bucketMeta, keyPolicyCerts, r)
}

func (t boltTxn) revision() (uint64, error) {
	v := t.tx.Bucket(bucketMeta).Get(keyRevision)
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(v), nil
	}
	return 0, fmt.Errorf("store: revision counter malformed: %w", ErrCorrupt)
}

func (t boltTxn) head() (audit.Head, error) {
	var h audit.Head
	v := t.tx.Bucket(bucketMeta).Get(keyHead)
	if v == nil {
		return h, nil
	}
	if err := json.Unmarshal(v, &h); err != nil {
		return h, fmt.Errorf("store: audit head: %v: %w", err, ErrCorrupt)
	}
	return h, nil
}

func (t boltTxn) putJSON(bucket, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return t.tx.Bucket(bucket).Put(key, b)
}

func (t boltTxn) putRelease(r ReleaseRecord) error {
	if err := t.putJSON(bucketReleases, []byte(releaseKey(r.Release.App, r.Release.Name)), r); err != nil {
		return err
	}
	cur, err := t.appRevision(r.Release.App)
	if err != nil {
		return err
	}
	return t.tx.Bucket(bucketApps).Put([]byte(r.Release.App), u64(max(cur, r.Revision)))
}

// appRevision reads the app's revision record; a schema 1 file (read-only:
// read-write opens migrate it) has none, and the releases are listed.
func (t boltTxn) appRevision(app string) (uint64, error) {
	bk := t.tx.Bucket(bucketApps)
	if bk == nil {
		recs, err := t.listReleases(app)
		return AppRevision(recs), err
	}
	switch v := bk.Get([]byte(app)); len(v) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(v), nil
	default:
		return 0, fmt.Errorf("store: revision of app %q malformed: %w", app, ErrCorrupt)
	}
}

func (t boltTxn) putPolicy(p PolicyRecord) error {
	return t.putJSON(bucketPolicies, []byte(p.Type), p)
}

func (t boltTxn) deletePolicy(typ string) error {
	return t.tx.Bucket(bucketPolicies).Delete([]byte(typ))
}

func (t boltTxn) appendEntry(e audit.Entry) error {
	b, err := e.Encode()
	if err != nil {
		return err
	}
	bk := t.tx.Bucket(bucketAudit)
	if bk.Get(u64(e.Seq)) != nil {
		return fmt.Errorf("store: audit entry %d already exists but the head is at %d: %w", e.Seq, e.Seq-1, ErrCorrupt)
	}
	return bk.Put(u64(e.Seq), b)
}

func (t boltTxn) setRevision(r uint64) error {
	return t.tx.Bucket(bucketMeta).Put(keyRevision, u64(r))
}

func (t boltTxn) setHead(h audit.Head) error { return t.putJSON(bucketMeta, keyHead, h) }
