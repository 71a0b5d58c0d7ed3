package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/release"
)

// SchemaVersion is the version of the bbolt layout this build writes. A file
// with a higher version is refused with a *SchemaError. Version 2 added the
// "apps" bucket; a version 1 file is migrated when opened read-write (and
// then refused by builds that only know version 1).
const SchemaVersion = 2

// DefaultBoltFile is the store's file name inside a data directory.
const DefaultBoltFile = "sgxops.db"

// DefaultLockTimeout is how long OpenBolt waits for the file lock when
// BoltOptions.LockTimeout is zero.
const DefaultLockTimeout = 5 * time.Second

// BoltPath returns the store file inside dataDir.
func BoltPath(dataDir string) string { return filepath.Join(dataDir, DefaultBoltFile) }

// BoltOptions configures OpenBolt.
type BoltOptions struct {
	// ReadOnly opens an existing store with a shared lock and refuses
	// writes. Zero: read-write, creating and initialising the file if needed.
	ReadOnly bool
	// LockTimeout bounds the wait for the file lock (another process may hold
	// it). Zero: DefaultLockTimeout. Negative: fail at once if locked.
	LockTimeout time.Duration
	// FileMode is the permission of a newly created file. Zero: 0600.
	FileMode os.FileMode
	// SkipCheck skips the consistency check of the whole file (Check) at
	// open. Zero: the file is checked, and a damaged one is refused.
	SkipCheck bool
}

// Layout: bucket "meta" holds "schema" (u64), "revision" (u64) and "head"
// (JSON audit.Head); "releases" maps app NUL name to a JSON ReleaseRecord;
// "policies" maps the attestation type to a JSON PolicyRecord; "audit" maps
// u64(seq) to the JSON form of the entry (audit.Entry.Encode); "apps" (schema
// 2) maps an app to u64 AppRevision of its releases, written with them.
var (
	bucketMeta     = []byte("meta")
	bucketReleases = []byte("releases")
	bucketPolicies = []byte("policies")
	bucketAudit    = []byte("audit")
	bucketApps     = []byte("apps")
	keySchema      = []byte("schema")
	keyRevision    = []byte("revision")
	keyHead        = []byte("head")
	// keyPolicyCerts holds the PolicyCertsRecord (absent: none). It lives in
	// the meta bucket, so stores written before it existed need no migration.
	keyPolicyCerts = []byte("policy-certs")
)

// Bolt is the embedded Store on a bbolt file. A read-write Bolt holds an
// exclusive lock on the file for its lifetime; every Commit is synced to disk
// before it returns.
type Bolt struct {
	db       *bolt.DB
	path     string
	readOnly bool
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens (and, unless read-only, creates) the store at path.
// Unless opts.SkipCheck, the whole file is checked first (see Check).
// Errors: ErrLocked when another process holds the lock, ErrCorrupt when the
// file is not a bbolt file of this store or is damaged, a *SchemaError when
// it was written by a newer version, fs.ErrNotExist for a missing file in
// read-only mode.
func OpenBolt(path string, opts BoltOptions) (*Bolt, error) {
	timeout := opts.LockTimeout
	switch {
	case timeout == 0:
		timeout = DefaultLockTimeout
	case timeout < 0:
		timeout = time.Nanosecond
	}
	mode := opts.FileMode
	if mode == 0 {
		mode = 0o600
	}
	db, err := bolt.Open(path, mode, &bolt.Options{Timeout: timeout, ReadOnly: opts.ReadOnly})
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("store: opening %s: %w", path, ErrLocked)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
			errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
			return nil, fmt.Errorf("store: opening %s: %w: %w", path, ErrCorrupt, err)
		}
		return nil, fmt.Errorf("store: opening %s: %w", path, err)
	}
	b := &Bolt{db: db, path: path, readOnly: opts.ReadOnly}
	if !opts.SkipCheck {
		if err := b.Check(); err != nil {
			db.Close()
			return nil, err
		}
	}
	if opts.ReadOnly {
		err = b.view(checkSchema)
	} else {
		err = b.update(initSchema)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: opening %s: %w", path, err)
	}
	return b, nil
}

func initSchema(tx *bolt.Tx) error {
	if tx.Bucket(bucketMeta) == nil {
		empty := true
		if err := tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil }); err != nil {
			return err
		}
		if !empty {
			return fmt.Errorf("bbolt file has buckets but no sgxops schema: %w", ErrCorrupt)
		}
		for _, name := range [][]byte{bucketMeta, bucketReleases, bucketPolicies, bucketAudit, bucketApps} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketMeta).Put(keySchema, u64(SchemaVersion)); err != nil {
			return err
		}
	}
	if err := checkSchema(tx); err != nil {
		return err
	}
	if binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keySchema)) == 1 {
		return migrateApps(tx)
	}
	return nil
}

// migrateApps turns a schema 1 file into schema 2: the apps bucket, from the
// stored releases.
func migrateApps(tx *bolt.Tx) error {
	apps, err := tx.CreateBucketIfNotExists(bucketApps)
	if err != nil {
		return err
	}
	recs, err := boltTxn{tx}.listReleases("")
	if err != nil {
		return err
	}
	revs := map[string]uint64{}
	for _, r := range recs {
		revs[r.Release.App] = max(revs[r.Release.App], r.Revision)
	}
	for app, rev := range revs {
		if err := apps.Put([]byte(app), u64(rev)); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(keySchema, u64(SchemaVersion))
}

func checkSchema(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return fmt.Errorf("not an sgxops store (no meta bucket): %w", ErrCorrupt)
	}
	v := meta.Get(keySchema)
	if len(v) != 8 {
		return fmt.Errorf("schema key missing or malformed: %w", ErrCorrupt)
	}
	switch found := binary.BigEndian.Uint64(v); {
	case found > SchemaVersion:
		return &SchemaError{Found: found, Supported: SchemaVersion}
	case found < 1:
		return fmt.Errorf("schema version %d: %w", found, ErrCorrupt)
	}
	buckets := [][]byte{bucketReleases, bucketPolicies, bucketAudit}
	if binary.BigEndian.Uint64(v) >= 2 {
		buckets = append(buckets, bucketApps)
	}
	for _, name := range buckets {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("bucket %s missing: %w", name, ErrCorrupt)
		}
	}
	return nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// mapErr turns bbolt's errors into this package's.
func mapErr(err error) error {
	switch {
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return ErrClosed
	case errors.Is(err, berrors.ErrDatabaseReadOnly), errors.Is(err, berrors.ErrTxNotWritable):
		return ErrReadOnly
	}
	return err
}

// guard runs fn, turning a panic inside bbolt (which it raises on some
// damaged pages) and a memory fault while reading the mapped file (a page id
// beyond the file) into ErrCorrupt naming the file. Faults become panics only
// on the goroutine that set debug.SetPanicOnFault, so fn must not read the
// file from another goroutine.
func (b *Bolt) guard(fn func(*bolt.Tx) error) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) (err error) {
		defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
		defer func() {
			if p := recover(); p != nil {
				if f, ok := p.(interface{ Addr() uintptr }); ok {
					err = fmt.Errorf("store: %s is damaged: memory fault at %#x while reading it (a page reference points outside the file): %w", b.path, f.Addr(), ErrCorrupt)
					return
				}
				err = fmt.Errorf("store: %s is damaged: reading it failed: %v: %w", b.path, p, ErrCorrupt)
			}
		}()
		return fn(tx)
	}
}

func (b *Bolt) view(fn func(*bolt.Tx) error) error   { return mapErr(b.db.View(b.guard(fn))) }
func (b *Bolt) update(fn func(*bolt.Tx) error) error { return mapErr(b.db.Update(b.guard(fn))) }

// Path returns the file the store was opened from.
func (b *Bolt) Path() string { return b.path }

// Close releases the file lock. Further calls fail with ErrClosed.
func (b *Bolt) Close() error { return b.db.Close() }

// GetRelease implements Store.
func (b *Bolt) GetRelease(ctx context.Context, app, name string) (ReleaseRecord, error) {
	if err := ctx.Err(); err != nil {
		return ReleaseRecord{}, err
	}
	var rec ReleaseRecord
	err := b.view(func(tx *bolt.Tx) error {
		r, ok, err := boltTxn{tx}.getRelease(app, name)
		if err == nil && !ok {
			err = fmt.Errorf("store: release %s/%s: %w", app, name, ErrNotFound)
		}
		rec = r
		return err
	})
	return rec, err
}

// ListReleases implements Store.
func (b *Bolt) ListReleases(ctx context.Context, app string) ([]ReleaseRecord, error) {
	if app != "" {
		if err := release.ValidateName("app", app); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []ReleaseRecord
	err := b.view(func(tx *bolt.Tx) (err error) {
		out, err = boltTxn{tx}.listReleases(app)
		return err
	})
	return out, err
}

// GetPolicy implements Store.
func (b *Bolt) GetPolicy(ctx context.Context, typ string) (PolicyRecord, error) {
	if err := ctx.Err(); err != nil {
		return PolicyRecord{}, err
	}
	var rec PolicyRecord
	err := b.view(func(tx *bolt.Tx) error {
		p, ok, err := boltTxn{tx}.getPolicy(typ)
		if err == nil && !ok {
			err = fmt.Errorf("store: policy %s: %w", typ, ErrNotFound)
		}
		rec = p
		return err
	})
	return rec, err
}

// ListPolicies implements Store.
func (b *Bolt) ListPolicies(ctx context.Context) ([]PolicyRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []PolicyRecord
	err := b.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPolicies).ForEach(func(k, v []byte) error {
			p, err := decodePolicy(k, v)
			out = append(out, p)
			return err
		})
	})
	return out, err
}

// GetPolicyCerts implements Store.
func (b *Bolt) GetPolicyCerts(ctx context.Context) (PolicyCertsRecord, error) {
	if err := ctx.Err(); err != nil {
		return PolicyCertsRecord{}, err
	}
	var rec PolicyCertsRecord
	err := b.view(func(tx *bolt.Tx) (err error) {
		rec, err = boltTxn{tx}.getPolicyCerts()
		return err
	})
	return rec, err
}

// ListAudit implements Store.
func (b *Bolt) ListAudit(ctx context.Context, after uint64, limit int) ([]audit.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []audit.Entry
	err := b.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil; k, v = c.Next() {
			if limit > 0 && len(out) == limit {
				break
			}
			if len(k) != 8 {
				return &EntryError{Seq: after + uint64(len(out)) + 1, Err: fmt.Errorf("malformed key %x", k)}
			}
			seq := binary.BigEndian.Uint64(k)
			if seq <= after { // only when after+1 overflowed
				break
			}
			e, err := audit.Decode(v)
			if err != nil {
				return &EntryError{Seq: seq, Err: err}
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// AppRevision implements AppRevisioner.
func (b *Bolt) AppRevision(ctx context.Context, app string) (uint64, error) {
	if err := release.ValidateName("app", app); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var rev uint64
	err := b.view(func(tx *bolt.Tx) (err error) {
		rev, err = boltTxn{tx}.appRevision(app)
		return err
	})
	return rev, err
}

// AuditHead implements Store.
func (b *Bolt) AuditHead(ctx context.Context) (audit.Head, error) {
	if err := ctx.Err(); err != nil {
		return audit.Head{}, err
	}
	var h audit.Head
	err := b.view(func(tx *bolt.Tx) (err error) {
		h, err = boltTxn{tx}.head()
		return err
	})
	return h, err
}

// Commit implements Store. It returns after the transaction is synced.
func (b *Bolt) Commit(ctx context.Context, ch Change) (Committed, error) {
	if err := ctx.Err(); err != nil {
		return Committed{}, err
	}
	if b.readOnly {
		return Committed{}, ErrReadOnly
	}
	if err := checkChange(ch); err != nil {
		return Committed{}, err
	}
	var c Committed
	err := b.update(func(tx *bolt.Tx) (err error) {
		c, err = applyChange(boltTxn{tx}, ch)
		return err
	})
	if err != nil {
		return Committed{}, err
	}
	return c, nil
}
