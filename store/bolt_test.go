package store_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sgxops/sgxops/audit"

	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/storetest"
)

func openBolt(t *testing.T, path string, opts store.BoltOptions) *store.Bolt {
	t.Helper()
	s, err := store.OpenBolt(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBoltConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return openBolt(t, filepath.Join(t.TempDir(), store.DefaultBoltFile), store.BoltOptions{})
	})
}

func TestBoltReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), store.DefaultBoltFile)
	s := openBolt(t, path, store.BoltOptions{})
	c1, err := s.Commit(ctx, store.Change{
		Releases: []store.ReleasePut{{Release: storetest.Candidate(t, "hello", "v1", 1)}},
		Audit:    []audit.Record{{Time: time.Now(), Actor: "a", Action: audit.ActionRegister, App: "hello", Release: "v1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openBolt(t, path, store.BoltOptions{})
	defer s.Close()
	if r, err := s.GetRelease(ctx, "hello", "v1"); err != nil || r.Revision != c1.Revision {
		t.Fatalf("after reopen: %+v, %v", r, err)
	}
	c2, err := s.Commit(ctx, store.Change{Audit: []audit.Record{{Time: time.Now(), Actor: "a", Action: audit.ActionRetire}}})
	if err != nil || c2.Revision != c1.Revision+1 || c2.Entries[0].PrevHash != c1.Entries[0].Hash {
		t.Fatalf("commit after reopen: %+v, %v", c2, err)
	}
	if st, err := store.VerifyLog(ctx, s); err != nil || st.Entries != 2 {
		t.Fatalf("VerifyLog = %+v, %v", st, err)
	}
}

func TestBoltLockAndReadOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), store.DefaultBoltFile)
	s := openBolt(t, path, store.BoltOptions{})
	if _, err := store.OpenBolt(path, store.BoltOptions{LockTimeout: -1}); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second writer: %v", err)
	}
	if _, err := store.OpenBolt(path, store.BoltOptions{ReadOnly: true, LockTimeout: 50 * time.Millisecond}); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("reader while a writer holds the lock: %v", err)
	}
	if _, err := s.Commit(ctx, store.Change{Releases: []store.ReleasePut{{Release: storetest.Candidate(t, "hello", "v1", 1)}}}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	ro := openBolt(t, path, store.BoltOptions{ReadOnly: true})
	ro2 := openBolt(t, path, store.BoltOptions{ReadOnly: true}) // readers share the lock
	ro2.Close()
	if _, err := ro.GetRelease(ctx, "hello", "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Commit(ctx, store.Change{Audit: []audit.Record{{Time: time.Now(), Actor: "a", Action: "x"}}}); !errors.Is(err, store.ErrReadOnly) {
		t.Fatalf("write on read-only store: %v", err)
	}
	ro.Close()
	if _, err := ro.ListReleases(ctx, ""); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if _, err := store.OpenBolt(filepath.Join(t.TempDir(), "missing.db"), store.BoltOptions{ReadOnly: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file read-only: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode: %v, %v", fi.Mode(), err)
	}
}

// rawUpdate edits a closed store file directly with bbolt, as an attacker or
// a damaged disk would.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestBoltSchemaAndCorruption(t *testing.T) {
	dir := t.TempDir()
	newStore := func(name string) string {
		p := filepath.Join(dir, name)
		openBolt(t, p, store.BoltOptions{}).Close()
		return p
	}
	tooNew := newStore("new.db")
	rawUpdate(t, tooNew, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema"), binary.BigEndian.AppendUint64(nil, store.SchemaVersion+1))
	})
	noSchema := newStore("noschema.db")
	rawUpdate(t, noSchema, func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Delete([]byte("schema")) })
	noBucket := newStore("nobucket.db")
	rawUpdate(t, noBucket, func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("audit")) })
	foreign := filepath.Join(dir, "foreign.db")
	rawUpdate(t, foreign, func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err })
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a bbolt file "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	smashed := newStore("smashed.db")
	b, err := os.ReadFile(smashed)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2*4096 && i < len(b); i++ { // both meta pages
		b[i] ^= 0x5a
	}
	if err := os.WriteFile(smashed, b, 0o600); err != nil {
		t.Fatal(err)
	}

	for _, ro := range []bool{false, true} {
		_, err := store.OpenBolt(tooNew, store.BoltOptions{ReadOnly: ro})
		var se *store.SchemaError
		if !errors.As(err, &se) || !errors.Is(err, store.ErrSchemaTooNew) || se.Found != store.SchemaVersion+1 {
			t.Errorf("newer schema (ro=%v): %v", ro, err)
		}
		for _, p := range []string{noSchema, noBucket, foreign, garbage, smashed} {
			if _, err := store.OpenBolt(p, store.BoltOptions{ReadOnly: ro}); !errors.Is(err, store.ErrCorrupt) {
				t.Errorf("%s (ro=%v): err = %v, want ErrCorrupt", filepath.Base(p), ro, err)
			}
		}
	}
}

// TestBoltPolicyCertsPersist: the policy-management certificates survive a
// reopen, and a tampered record reads as corrupt rather than as "none".
func TestBoltPolicyCertsPersist(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), store.DefaultBoltFile)
	s := openBolt(t, path, store.BoltOptions{})
	der := []byte("a certificate")
	c, err := s.Commit(ctx, store.Change{PolicyCerts: &store.PolicyCertsPut{Certs: []store.PolicyCert{
		{Thumbprint: store.PolicyCertThumbprint(der), DER: der, AddedAt: time.Now()},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openBolt(t, path, store.BoltOptions{ReadOnly: true})
	if r, err := s.GetPolicyCerts(ctx); err != nil || r.Revision != c.Revision || len(r.Certs) != 1 || string(r.Certs[0].DER) != string(der) {
		t.Fatalf("after reopen: %+v, %v", r, err)
	}
	s.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("policy-certs"), []byte(`{"certs":[{"thumbprint":"00","der":"YQ==","added_at":"2026-01-01T00:00:00Z"}],"revision":1}`))
	})
	s = openBolt(t, path, store.BoltOptions{ReadOnly: true})
	defer s.Close()
	if _, err := s.GetPolicyCerts(ctx); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("tampered thumbprint: %v", err)
	}
}

func TestBoltUndecodableRecords(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), store.DefaultBoltFile)
	s := openBolt(t, path, store.BoltOptions{})
	for i, name := range []string{"v1", "v2"} {
		if _, err := s.Commit(ctx, store.Change{
			Releases: []store.ReleasePut{{Release: storetest.Candidate(t, "hello", name, i)}},
			Audit:    []audit.Record{{Time: time.Now(), Actor: "a", Action: audit.ActionRegister, App: "hello", Release: name}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		if err := tx.Bucket([]byte("releases")).Put([]byte("hello\x00v1"), []byte("{not json")); err != nil {
			return err
		}
		return tx.Bucket([]byte("audit")).Put(binary.BigEndian.AppendUint64(nil, 2), []byte(`{"seq":2}`))
	})
	s = openBolt(t, path, store.BoltOptions{ReadOnly: true})
	defer s.Close()
	if _, err := s.GetRelease(ctx, "hello", "v1"); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("GetRelease: %v", err)
	}
	if _, err := s.ListReleases(ctx, "hello"); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("ListReleases: %v", err)
	}
	var ee *store.EntryError
	if _, err := s.ListAudit(ctx, 0, 0); !errors.As(err, &ee) || ee.Seq != 2 || !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("ListAudit: %v", err)
	}
	var ce *audit.ChainError
	if _, err := store.VerifyLog(ctx, s); !errors.As(err, &ce) || ce.Seq != 2 || ce.Reason != audit.ReasonMalformed {
		t.Errorf("VerifyLog: %v", err)
	}
}

// TestBoltTamperingDetected edits audit entries inside the bbolt file and
// checks that VerifyLog names the right seq and reason.
func TestBoltTamperingDetected(t *testing.T) {
	const n = 6
	entryKey := func(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }
	editEntry := func(seq uint64, edit func(m map[string]any)) func(tx *bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			bk := tx.Bucket([]byte("audit"))
			var m map[string]any
			if err := json.Unmarshal(bk.Get(entryKey(seq)), &m); err != nil {
				return err
			}
			edit(m)
			b, err := json.Marshal(m)
			if err != nil {
				return err
			}
			return bk.Put(entryKey(seq), b)
		}
	}
	tests := []struct {
		name   string
		tamper func(tx *bolt.Tx) error
		seq    uint64
		reason audit.Reason
	}{
		{"details", editEntry(3, func(m map[string]any) { m["details"] = map[string]any{"reason": "nothing to see"} }), 3, audit.ReasonHash},
		{"time", editEntry(2, func(m map[string]any) { m["time"] = "2020-01-01T00:00:00Z" }), 2, audit.ReasonHash},
		{"actor", editEntry(5, func(m map[string]any) { m["actor"] = "mallory" }), 5, audit.ReasonHash},
		{"hash", editEntry(4, func(m map[string]any) { m["hash"] = strings.Repeat("ab", 32) }), 4, audit.ReasonHash},
		{"hash of the last entry", editEntry(n, func(m map[string]any) { m["hash"] = strings.Repeat("ab", 32) }), n, audit.ReasonHash},
		{"entry rehashed", func(tx *bolt.Tx) error {
			bk := tx.Bucket([]byte("audit"))
			e, err := audit.Decode(bk.Get(entryKey(2)))
			if err != nil {
				return err
			}
			e.Actor = "mallory"
			e.Hash = e.ComputeHash()
			b, _ := e.Encode()
			return bk.Put(entryKey(2), b)
		}, 3, audit.ReasonPrevHash},
		{"middle entry deleted", func(tx *bolt.Tx) error { return tx.Bucket([]byte("audit")).Delete(entryKey(3)) }, 3, audit.ReasonSeq},
		{"last entry deleted", func(tx *bolt.Tx) error { return tx.Bucket([]byte("audit")).Delete(entryKey(n)) }, n, audit.ReasonHead},
		{"forged entry appended", func(tx *bolt.Tx) error {
			bk := tx.Bucket([]byte("audit"))
			last, err := audit.Decode(bk.Get(entryKey(n)))
			if err != nil {
				return err
			}
			e, err := audit.Seal(last.Head(), audit.Record{Time: last.Time, Actor: "mallory", Action: audit.ActionActivate})
			if err != nil {
				return err
			}
			b, _ := e.Encode()
			return bk.Put(entryKey(n+1), b)
		}, n + 1, audit.ReasonHead},
		{"entry stored under another seq", func(tx *bolt.Tx) error {
			bk := tx.Bucket([]byte("audit"))
			return bk.Put(entryKey(4), bk.Get(entryKey(5)))
		}, 4, audit.ReasonSeq},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), store.DefaultBoltFile)
			s := openBolt(t, path, store.BoltOptions{})
			for i := range n {
				if _, err := s.Commit(ctx, store.Change{Audit: []audit.Record{{
					Time: t0.Add(time.Duration(i) * time.Minute), Actor: "op", Action: audit.ActionRevoke,
					App: "hello", Release: fmt.Sprintf("v%d", i), Details: map[string]string{"reason": "r"},
				}}}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := store.VerifyLog(ctx, s); err != nil {
				t.Fatalf("before tampering: %v", err)
			}
			s.Close()
			rawUpdate(t, path, tc.tamper)
			s = openBolt(t, path, store.BoltOptions{ReadOnly: true})
			defer s.Close()
			_, err := store.VerifyLog(ctx, s)
			var ce *audit.ChainError
			if !errors.As(err, &ce) || ce.Seq != tc.seq || ce.Reason != tc.reason {
				t.Fatalf("VerifyLog = %v, want seq %d %s", err, tc.seq, tc.reason)
			}
		})
	}
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func TestBoltRefusesToOverwriteEntries(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), store.DefaultBoltFile)
	s := openBolt(t, path, store.BoltOptions{})
	rec := audit.Record{Time: t0, Actor: "op", Action: audit.ActionRegister}
	for range 2 {
		if _, err := s.Commit(ctx, store.Change{Audit: []audit.Record{rec}}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Delete([]byte("head")) })
	s = openBolt(t, path, store.BoltOptions{})
	defer s.Close()
	if _, err := s.Commit(ctx, store.Change{Audit: []audit.Record{rec}}); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("commit over a lost head: %v", err)
	}
	es, err := s.ListAudit(ctx, 0, 0)
	if err != nil || len(es) != 2 || audit.Verify(es) != nil {
		t.Fatalf("entries damaged: %d, %v", len(es), err)
	}
}
