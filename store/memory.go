package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/release"
)

// Memory is an in-memory Store for unit tests of other packages. It is not
// durable (everything is lost on exit) and not shared between processes; it
// implements the same checks and optimistic concurrency as the bbolt store
// and passes the same conformance suite (package storetest).
type Memory struct {
	mu       sync.RWMutex
	closed   bool
	releases map[string]ReleaseRecord
	appRev   map[string]uint64 // AppRevision of each app's releases
	policies map[string]PolicyRecord
	certs    PolicyCertsRecord
	entries  []audit.Entry
	rev      uint64
	hd       audit.Head
}

// NewMemory returns an empty in-memory store (for tests; see Memory).
func NewMemory() *Memory {
	return &Memory{releases: map[string]ReleaseRecord{}, appRev: map[string]uint64{}, policies: map[string]PolicyRecord{}}
}

var _ Store = (*Memory)(nil)

func (m *Memory) rlock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

func cloneEntry(e audit.Entry) audit.Entry {
	if e.Details != nil {
		e.Details = maps.Clone(e.Details)
	}
	return e
}

// GetRelease implements Store.
func (m *Memory) GetRelease(ctx context.Context, app, name string) (ReleaseRecord, error) {
	if err := m.rlock(ctx); err != nil {
		return ReleaseRecord{}, err
	}
	defer m.mu.RUnlock()
	r, ok := m.releases[releaseKey(app, name)]
	if !ok {
		return ReleaseRecord{}, fmt.Errorf("store: release %s/%s: %w", app, name, ErrNotFound)
	}
	return r, nil
}

// ListReleases implements Store.
func (m *Memory) ListReleases(ctx context.Context, app string) ([]ReleaseRecord, error) {
	if app != "" {
		if err := release.ValidateName("app", app); err != nil {
			return nil, err
		}
	}
	if err := m.rlock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	return memTxn{m}.listReleases(app)
}

// GetPolicy implements Store.
func (m *Memory) GetPolicy(ctx context.Context, typ string) (PolicyRecord, error) {
	if err := m.rlock(ctx); err != nil {
		return PolicyRecord{}, err
	}
	defer m.mu.RUnlock()
	p, ok := m.policies[typ]
	if !ok {
		return PolicyRecord{}, fmt.Errorf("store: policy %s: %w", typ, ErrNotFound)
	}
	return p, nil
}

// ListPolicies implements Store.
func (m *Memory) ListPolicies(ctx context.Context) ([]PolicyRecord, error) {
	if err := m.rlock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	out := make([]PolicyRecord, 0, len(m.policies))
	for _, k := range slices.Sorted(maps.Keys(m.policies)) {
		out = append(out, m.policies[k])
	}
	return out, nil
}

// GetPolicyCerts implements Store.
func (m *Memory) GetPolicyCerts(ctx context.Context) (PolicyCertsRecord, error) {
	if err := m.rlock(ctx); err != nil {
		return PolicyCertsRecord{}, err
	}
	defer m.mu.RUnlock()
	return memTxn{m}.getPolicyCerts()
}

// ListAudit implements Store.
func (m *Memory) ListAudit(ctx context.Context, after uint64, limit int) ([]audit.Entry, error) {
	if err := m.rlock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.RUnlock()
	var out []audit.Entry
	for _, e := range m.entries {
		if e.Seq <= after {
			continue
		}
		if limit > 0 && len(out) == limit {
			break
		}
		out = append(out, cloneEntry(e))
	}
	return out, nil
}

// AuditHead implements Store.
func (m *Memory) AuditHead(ctx context.Context) (audit.Head, error) {
	if err := m.rlock(ctx); err != nil {
		return audit.Head{}, err
	}
	defer m.mu.RUnlock()
	return m.hd, nil
}

// Commit implements Store.
func (m *Memory) Commit(ctx context.Context, ch Change) (Committed, error) {
	if err := ctx.Err(); err != nil {
		return Committed{}, err
	}
	if err := checkChange(ch); err != nil {
		return Committed{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Committed{}, ErrClosed
	}
	return applyChange(memTxn{m}, ch)
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// memTxn runs under m.mu; applyChange makes it atomic by writing only after
// every check passed (the writes cannot fail).
type memTxn struct{ m *Memory }

func (t memTxn) getRelease(app, name string) (ReleaseRecord, bool, error) {
	r, ok := t.m.releases[releaseKey(app, name)]
	return r, ok, nil
}

func (t memTxn) listReleases(app string) ([]ReleaseRecord, error) {
	var out []ReleaseRecord
	for _, k := range slices.Sorted(maps.Keys(t.m.releases)) {
		if app == "" || strings.HasPrefix(k, app+"\x00") {
			out = append(out, t.m.releases[k])
		}
	}
	return out, nil
}

func (t memTxn) getPolicy(typ string) (PolicyRecord, bool, error) {
	p, ok := t.m.policies[typ]
	return p, ok, nil
}

func (t memTxn) getPolicyCerts() (PolicyCertsRecord, error) { return clonePolicyCerts(t.m.certs), nil }

func (t memTxn) putPolicyCerts(r PolicyCertsRecord) error {
	t.m.certs = clonePolicyCerts(r)
	return nil
}

func clonePolicyCerts(r PolicyCertsRecord) PolicyCertsRecord {
	out := PolicyCertsRecord{Revision: r.Revision, Certs: make([]PolicyCert, len(r.Certs))}
	for i, c := range r.Certs {
		c.DER = slices.Clone(c.DER)
		out.Certs[i] = c
	}
	return out
}

func (t memTxn) revision() (uint64, error)   { return t.m.rev, nil }
func (t memTxn) head() (audit.Head, error)   { return t.m.hd, nil }
func (t memTxn) setRevision(r uint64) error  { t.m.rev = r; return nil }
func (t memTxn) setHead(h audit.Head) error  { t.m.hd = h; return nil }
func (t memTxn) deletePolicy(s string) error { delete(t.m.policies, s); return nil }

func (t memTxn) putRelease(r ReleaseRecord) error {
	t.m.releases[releaseKey(r.Release.App, r.Release.Name)] = r
	t.m.appRev[r.Release.App] = max(t.m.appRev[r.Release.App], r.Revision)
	return nil
}

func (t memTxn) appRevision(app string) (uint64, error) { return t.m.appRev[app], nil }

// AppRevision implements AppRevisioner.
func (m *Memory) AppRevision(ctx context.Context, app string) (uint64, error) {
	if err := release.ValidateName("app", app); err != nil {
		return 0, err
	}
	if err := m.rlock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.RUnlock()
	return m.appRev[app], nil
}

func (t memTxn) putPolicy(p PolicyRecord) error { t.m.policies[p.Type] = p; return nil }

func (t memTxn) appendEntry(e audit.Entry) error {
	t.m.entries = append(t.m.entries, cloneEntry(e))
	return nil
}
