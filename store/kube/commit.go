package kube

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/store"
)

// Size limits, so that every object stays below etcd's request limit
// (1.5 MiB by default).
const (
	// MaxIntentBytes bounds the JSON of one commit's content (its objects and
	// audit entries), and so every release, policy and certificate set.
	MaxIntentBytes = 512 << 10
	// MaxLedgerBytes bounds the ledger's JSON; it grows with the number of
	// objects (a digest each) and audit segments.
	MaxLedgerBytes = 1280 << 10
	// A segment takes at most MaxSegmentEntries entries and
	// MaxSegmentBytes of them, unless one commit brings more: that commit's
	// entries then start a segment of their own (bounded by MaxIntentBytes).
	MaxSegmentEntries = 256
	MaxSegmentBytes   = 512 << 10
)

// maxCommitAttempts bounds the retries of a commit whose ledger update lost
// a race to another writer while the change's own expectations still held.
const maxCommitAttempts = 10

// Commit implements store.Store: the change is durable once the ledger
// update succeeds; the objects are written after it (see the package doc).
func (s *Store) Commit(ctx context.Context, ch store.Change) (store.Committed, error) {
	start := time.Now()
	c, err := s.commit(ctx, ch)
	s.report("commit", start, err)
	return c, err
}

func (s *Store) commit(ctx context.Context, ch store.Change) (store.Committed, error) {
	if err := s.usable(ctx); err != nil {
		return store.Committed{}, err
	}
	if s.readOnly {
		return store.Committed{}, store.ErrReadOnly
	}
	if err := store.CheckChange(ch); err != nil {
		return store.Committed{}, err
	}
	id := newID()
	var lastRev, firstRev int64 = -1, -1
	var moved *errMoved
	for attempt := range maxCommitAttempts {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return store.Committed{}, err
			}
		}
		l, err := s.ledger(ctx)
		if err != nil {
			return store.Committed{}, err
		}
		if firstRev < 0 {
			firstRev = l.Spec.Revision
		}
		lastRev = l.Spec.Revision
		if moved != nil && l.Spec.Revision < moved.rev {
			return store.Committed{}, &EditError{Kind: moved.kind, Namespace: s.ns, Name: moved.name, Reason: ReasonRevision,
				Detail: fmt.Sprintf("object at %d, ledger at %d", moved.rev, l.Spec.Revision)}
		}
		// The previous commit must be materialized before its intent is
		// replaced: the ledger keeps only the last one.
		if err := s.rollForward(ctx, l, nil); err != nil {
			return store.Committed{}, fmt.Errorf("kube: finishing the previous commit (revision %d): %w", l.Spec.Revision, err)
		}
		tx := newTxn(ctx, newSnapshot(s, l))
		c, err := store.ApplyChange(tx, ch)
		if errors.As(err, &moved) {
			continue
		}
		if err != nil {
			return store.Committed{}, err
		}
		next, err := tx.ledger(id, c)
		if err != nil {
			return store.Committed{}, err
		}
		err = s.call("update", kindLedger, func() error { return s.c.Update(ctx, next) })
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			// The update may have landed even though the answer was lost.
			cur, gerr := s.getLedger(ctx)
			if gerr != nil || cur.Spec.Intent == nil || cur.Spec.Intent.ID != id {
				return store.Committed{}, fmt.Errorf("kube: updating %s %s/%s (the commit did not land, or its outcome is unknown if the ledger moved since): %w",
					kindLedger, s.ns, ledgerName, err)
			}
			next = cur
		}
		// Committed. A failure to materialize is finished by the next
		// reader or writer, so it does not fail the commit.
		s.rollForwardQuietly(ctx, next, tx.sn.seen)
		return c, nil
	}
	return store.Committed{}, &store.ConflictError{Key: "ledger", Expected: uint64(max(firstRev, 0)), Actual: uint64(max(lastRev, 0))}
}

func newID() string {
	b := make([]byte, 16)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

// backoff sleeps a jittered, growing delay (up to ~100 ms).
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(min(attempt, 10))*10+1)) * time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// txn is store.Txn on a snapshot: reads go to the API server and resolve
// against the ledger; writes are buffered into the next ledger's intent.
type txn struct {
	ctx   context.Context
	sn    *snapshot
	rels  map[string]store.ReleaseRecord // by object name
	pols  map[string]*store.PolicyRecord // by type; nil: reset
	certs *store.PolicyCertsRecord
}

func newTxn(ctx context.Context, sn *snapshot) *txn {
	return &txn{ctx: ctx, sn: sn, rels: map[string]store.ReleaseRecord{}, pols: map[string]*store.PolicyRecord{}}
}

func (t *txn) GetRelease(app, name string) (store.ReleaseRecord, bool, error) {
	if r, ok := t.rels[releaseName(app, name)]; ok {
		return r, true, nil
	}
	return t.sn.getRelease(t.ctx, app, name)
}

func (t *txn) ListReleases(app string) ([]store.ReleaseRecord, error) {
	recs, err := t.sn.listReleases(t.ctx, app)
	if err != nil {
		return nil, err
	}
	for _, w := range t.rels {
		if w.Release.App != app {
			continue
		}
		i := slices.IndexFunc(recs, func(r store.ReleaseRecord) bool { return r.Release.Name == w.Release.Name })
		if i < 0 {
			recs = append(recs, w)
		} else {
			recs[i] = w
		}
	}
	slices.SortFunc(recs, func(a, b store.ReleaseRecord) int { return strings.Compare(a.Release.Name, b.Release.Name) })
	return recs, nil
}

func (t *txn) GetPolicy(typ string) (store.PolicyRecord, bool, error) {
	if p, ok := t.pols[typ]; ok {
		if p == nil {
			return store.PolicyRecord{}, false, nil
		}
		return *p, true, nil
	}
	return t.sn.getPolicy(t.ctx, typ)
}

func (t *txn) GetPolicyCerts() (store.PolicyCertsRecord, error) {
	if t.certs != nil {
		return *t.certs, nil
	}
	return t.sn.getPolicyCerts(t.ctx)
}

func (t *txn) Revision() (uint64, error) { return revU(t.sn.rev) }
func (t *txn) Head() (audit.Head, error) { return t.sn.head() }

func (t *txn) PutRelease(r store.ReleaseRecord) error {
	t.rels[releaseName(r.Release.App, r.Release.Name)] = r
	return nil
}

func (t *txn) PutPolicy(p store.PolicyRecord) error {
	t.pols[p.Type] = &p
	return nil
}

func (t *txn) DeletePolicy(typ string) error {
	t.pols[typ] = nil
	return nil
}

func (t *txn) PutPolicyCerts(r store.PolicyCertsRecord) error {
	t.certs = &r
	return nil
}

// The revision, head and entries come back in store.Committed; ledger uses them.
func (t *txn) AppendEntry(audit.Entry) error { return nil }
func (t *txn) SetRevision(uint64) error      { return nil }
func (t *txn) SetHead(audit.Head) error      { return nil }

// ledger returns the ledger that commits c: the snapshot's, with the
// revision, head, digests and segments moved on and c as its intent.
func (t *txn) ledger(id string, c store.Committed) (*v1.AttestdLedger, error) {
	l := t.sn.l.DeepCopy()
	sp := &l.Spec
	rev := rev64(c.Revision)
	sp.Revision = rev
	if sp.Objects == nil {
		sp.Objects = map[string]string{}
	}
	in := &v1.AttestdIntent{ID: id, Revision: rev, Previous: map[string]string{}}
	set := func(key, d string) {
		in.Previous[key] = sp.Objects[key]
		sp.Objects[key] = d
	}
	for _, name := range sortedKeys(t.rels) {
		spec := releaseSpec(t.rels[name])
		in.Releases = append(in.Releases, spec)
		set(prefixRelease+name, digest(&spec))
	}
	for _, typ := range sortedKeys(t.pols) {
		key := prefixPolicy + policyName(typ)
		spec := v1.AttestdPolicySpec{Type: typ, Reset: true, Revision: rev}
		if p := t.pols[typ]; p != nil {
			spec = policySpec(*p)
		} else if _, ok := sp.Objects[key]; !ok {
			continue // resetting a policy that was never set
		}
		in.Policies = append(in.Policies, spec)
		set(key, digest(&spec))
	}
	if t.certs != nil {
		spec := certsSpec(*t.certs)
		in.PolicyCertificates = &spec
		set(keyCerts, digest(&spec))
	}
	if n := len(c.Entries); n > 0 {
		var size int64
		for _, e := range c.Entries {
			es := entrySpec(e)
			b, err := json.Marshal(es)
			if err != nil {
				return nil, err
			}
			size += int64(len(b))
			in.Entries = append(in.Entries, es)
		}
		if len(sp.Segments) == 0 || sp.SegmentEntries+int64(n) > MaxSegmentEntries || sp.SegmentBytes+size > MaxSegmentBytes {
			sp.Segments = append(sp.Segments, rev64(c.Entries[0].Seq))
			sp.SegmentEntries, sp.SegmentBytes = 0, 0
		}
		sp.SegmentEntries += int64(n)
		sp.SegmentBytes += size
		in.Segment = sp.Segments[len(sp.Segments)-1]
		sp.Head = headSpec(c.Entries[n-1].Head())
	}
	sp.Intent = in
	if b, _ := json.Marshal(in); len(b) > MaxIntentBytes {
		return nil, fmt.Errorf("kube: the change is %d bytes, more than %d: %w: %w", len(b), MaxIntentBytes, ErrTooLarge, store.ErrInvalidChange)
	}
	if b, _ := json.Marshal(l); len(b) > MaxLedgerBytes {
		return nil, fmt.Errorf("kube: the ledger would be %d bytes, more than %d (%d objects, %d audit segments): %w: %w",
			len(b), MaxLedgerBytes, len(sp.Objects), len(sp.Segments), ErrTooLarge, store.ErrInvalidChange)
	}
	return l, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(a, b) })
	return keys
}
