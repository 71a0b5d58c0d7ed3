package kube

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
)

// GetRelease implements store.Store.
func (s *Store) GetRelease(ctx context.Context, app, name string) (store.ReleaseRecord, error) {
	var rec store.ReleaseRecord
	err := s.view(ctx, func(sn *snapshot) error {
		r, ok, err := sn.getRelease(ctx, app, name)
		if err == nil && !ok {
			err = fmt.Errorf("store: release %s/%s: %w", app, name, store.ErrNotFound)
		}
		rec = r
		return err
	})
	return rec, err
}

// ListReleases implements store.Store.
func (s *Store) ListReleases(ctx context.Context, app string) ([]store.ReleaseRecord, error) {
	if app != "" {
		if err := release.ValidateName("app", app); err != nil {
			return nil, err
		}
	}
	var out []store.ReleaseRecord
	err := s.view(ctx, func(sn *snapshot) (err error) {
		out, err = sn.listReleases(ctx, app)
		return err
	})
	return out, err
}

// GetPolicy implements store.Store.
func (s *Store) GetPolicy(ctx context.Context, typ string) (store.PolicyRecord, error) {
	var rec store.PolicyRecord
	err := s.view(ctx, func(sn *snapshot) error {
		p, ok, err := sn.getPolicy(ctx, typ)
		if err == nil && !ok {
			err = fmt.Errorf("store: policy %s: %w", typ, store.ErrNotFound)
		}
		rec = p
		return err
	})
	return rec, err
}

// ListPolicies implements store.Store.
func (s *Store) ListPolicies(ctx context.Context) ([]store.PolicyRecord, error) {
	var out []store.PolicyRecord
	err := s.view(ctx, func(sn *snapshot) (err error) {
		out, err = sn.listPolicies(ctx)
		return err
	})
	return out, err
}

// GetPolicyCerts implements store.Store.
func (s *Store) GetPolicyCerts(ctx context.Context) (store.PolicyCertsRecord, error) {
	var rec store.PolicyCertsRecord
	err := s.view(ctx, func(sn *snapshot) (err error) {
		rec, err = sn.getPolicyCerts(ctx)
		return err
	})
	return rec, err
}

// AuditHead implements store.Store.
func (s *Store) AuditHead(ctx context.Context) (audit.Head, error) {
	var h audit.Head
	err := s.view(ctx, func(sn *snapshot) (err error) {
		h, err = sn.head()
		return err
	})
	return h, err
}

// ListAudit implements store.Store.
func (s *Store) ListAudit(ctx context.Context, after uint64, limit int) ([]audit.Entry, error) {
	var out []audit.Entry
	err := s.view(ctx, func(sn *snapshot) (err error) {
		out, err = sn.listAudit(ctx, after, limit)
		return err
	})
	return out, err
}

func (sn *snapshot) head() (audit.Head, error) {
	h, err := headFrom(sn.l.Spec.Head)
	if err != nil {
		return h, corrupt("%s %s/%s: head: %v", kindLedger, sn.s.ns, ledgerName, err)
	}
	return h, nil
}

// get reads one object; found is false when it does not exist.
func (sn *snapshot) get(ctx context.Context, kind, name string, obj client.Object) (found bool, err error) {
	s := sn.s
	err = s.call("get", kind, func() error { return s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: name}, obj) })
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("kube: reading %s %s/%s: %w", kind, s.ns, name, err)
	}
	return true, nil
}

// remember keeps an object read for a commit, so that the commit's
// roll-forward can update it without reading it again.
func (sn *snapshot) remember(key string, found bool, o client.Object) {
	if found {
		sn.seen[key] = o
	}
}

func (sn *snapshot) badContent(kind, name string, err error) error {
	return sn.edit(kind, name, ReasonChanged, err.Error())
}

func (sn *snapshot) getRelease(ctx context.Context, app, name string) (store.ReleaseRecord, bool, error) {
	obj := releaseName(app, name)
	if _, in := sn.l.Spec.Objects[prefixRelease+obj]; !in {
		return store.ReleaseRecord{}, false, nil // also covers names that cannot be object names
	}
	if o, ok := sn.seen[prefixRelease+obj].(*v1.AttestdRelease); ok { // listed already
		return sn.release(obj, &o.Spec, o.Spec.Revision)
	}
	var o v1.AttestdRelease
	found, err := sn.get(ctx, kindRelease, obj, &o)
	if err != nil {
		return store.ReleaseRecord{}, false, err
	}
	sn.remember(prefixRelease+obj, found, &o)
	return sn.release(obj, storedSpec(found, &o.Spec), o.Spec.Revision)
}

func storedSpec[S any](found bool, spec *S) *S {
	if !found {
		return nil
	}
	return spec
}

// release resolves and decodes one release object.
func (sn *snapshot) release(obj string, stored *v1.AttestdReleaseSpec, rev int64) (store.ReleaseRecord, bool, error) {
	spec, ok, err := resolve(sn, kindRelease, obj, prefixRelease+obj, stored, rev, sn.intentRel[obj])
	if err != nil || !ok {
		return store.ReleaseRecord{}, false, err
	}
	rec, err := releaseRecord(spec)
	if err == nil && releaseName(rec.Release.App, rec.Release.Name) != obj {
		err = fmt.Errorf("holds release %s/%s", rec.Release.App, rec.Release.Name)
	}
	if err != nil {
		return store.ReleaseRecord{}, false, sn.badContent(kindRelease, obj, err)
	}
	return rec, true, nil
}

// listReleases lists every release object and resolves it, and every
// release the ledger records, against the snapshot.
func (sn *snapshot) listReleases(ctx context.Context, app string) ([]store.ReleaseRecord, error) {
	s := sn.s
	var list v1.AttestdReleaseList
	if err := s.call("list", kindRelease, func() error { return s.c.List(ctx, &list, client.InNamespace(s.ns)) }); err != nil {
		return nil, fmt.Errorf("kube: listing %s in %s: %w", kindRelease, s.ns, err)
	}
	stored := map[string]*v1.AttestdReleaseSpec{}
	for i := range list.Items {
		stored[list.Items[i].Name] = &list.Items[i].Spec
		sn.remember(prefixRelease+list.Items[i].Name, true, &list.Items[i])
	}
	names := recordedNames(sn.l.Spec.Objects, prefixRelease, stored)
	var out []store.ReleaseRecord
	for _, obj := range names {
		var rev int64
		if st := stored[obj]; st != nil {
			rev = st.Revision
		}
		rec, ok, err := sn.release(obj, stored[obj], rev)
		if err != nil {
			return nil, err
		}
		if ok && (app == "" || rec.Release.App == app) {
			out = append(out, rec)
		}
	}
	slices.SortFunc(out, func(a, b store.ReleaseRecord) int {
		return cmp.Or(strings.Compare(a.Release.App, b.Release.App), strings.Compare(a.Release.Name, b.Release.Name))
	})
	return out, nil
}

// recordedNames returns the object names the ledger records under prefix
// together with the names of stored objects, sorted.
func recordedNames[S any](objects map[string]string, prefix string, stored map[string]*S) []string {
	set := map[string]bool{}
	for k := range objects {
		if name, ok := strings.CutPrefix(k, prefix); ok {
			set[name] = true
		}
	}
	for name := range stored {
		set[name] = true
	}
	out := make([]string, 0, len(set))
	for name := range set {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func (sn *snapshot) getPolicy(ctx context.Context, typ string) (store.PolicyRecord, bool, error) {
	if store.ValidateAttestationType(typ) != nil {
		return store.PolicyRecord{}, false, nil
	}
	obj := policyName(typ)
	if _, in := sn.l.Spec.Objects[prefixPolicy+obj]; !in {
		return store.PolicyRecord{}, false, nil
	}
	if o, ok := sn.seen[prefixPolicy+obj].(*v1.AttestdPolicy); ok { // listed already
		return sn.policy(obj, &o.Spec, o.Spec.Revision)
	}
	var o v1.AttestdPolicy
	found, err := sn.get(ctx, kindPolicy, obj, &o)
	if err != nil {
		return store.PolicyRecord{}, false, err
	}
	sn.remember(prefixPolicy+obj, found, &o)
	return sn.policy(obj, storedSpec(found, &o.Spec), o.Spec.Revision)
}

// policy resolves and decodes one policy object; a reset tombstone is not found.
func (sn *snapshot) policy(obj string, stored *v1.AttestdPolicySpec, rev int64) (store.PolicyRecord, bool, error) {
	spec, ok, err := resolve(sn, kindPolicy, obj, prefixPolicy+obj, stored, rev, sn.intentPol[obj])
	if err != nil || !ok {
		return store.PolicyRecord{}, false, err
	}
	if spec.Reset {
		if spec.Text != "" || spec.JWS != "" || policyName(spec.Type) != obj {
			return store.PolicyRecord{}, false, sn.badContent(kindPolicy, obj, fmt.Errorf("malformed reset"))
		}
		return store.PolicyRecord{}, false, nil
	}
	rec, err := policyRecord(spec)
	if err == nil && policyName(rec.Type) != obj {
		err = fmt.Errorf("holds the policy of %s", rec.Type)
	}
	if err != nil {
		return store.PolicyRecord{}, false, sn.badContent(kindPolicy, obj, err)
	}
	return rec, true, nil
}

func (sn *snapshot) listPolicies(ctx context.Context) ([]store.PolicyRecord, error) {
	s := sn.s
	var list v1.AttestdPolicyList
	if err := s.call("list", kindPolicy, func() error { return s.c.List(ctx, &list, client.InNamespace(s.ns)) }); err != nil {
		return nil, fmt.Errorf("kube: listing %s in %s: %w", kindPolicy, s.ns, err)
	}
	stored := map[string]*v1.AttestdPolicySpec{}
	for i := range list.Items {
		stored[list.Items[i].Name] = &list.Items[i].Spec
		sn.remember(prefixPolicy+list.Items[i].Name, true, &list.Items[i])
	}
	out := []store.PolicyRecord{}
	for _, obj := range recordedNames(sn.l.Spec.Objects, prefixPolicy, stored) {
		var rev int64
		if st := stored[obj]; st != nil {
			rev = st.Revision
		}
		rec, ok, err := sn.policy(obj, stored[obj], rev)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, rec)
		}
	}
	slices.SortFunc(out, func(a, b store.PolicyRecord) int { return strings.Compare(a.Type, b.Type) })
	return out, nil
}

func (sn *snapshot) getPolicyCerts(ctx context.Context) (store.PolicyCertsRecord, error) {
	if _, in := sn.l.Spec.Objects[keyCerts]; !in {
		return store.PolicyCertsRecord{}, nil
	}
	var o v1.AttestdPolicyCertificates
	found, err := sn.get(ctx, kindCerts, certsName, &o)
	if err != nil {
		return store.PolicyCertsRecord{}, err
	}
	sn.remember(keyCerts, found, &o)
	spec, _, err := resolve(sn, kindCerts, certsName, keyCerts, storedSpec(found, &o.Spec), o.Spec.Revision, sn.intentCerts)
	if err != nil {
		return store.PolicyCertsRecord{}, err
	}
	rec, err := certsRecord(spec)
	if err != nil {
		return store.PolicyCertsRecord{}, sn.badContent(kindCerts, certsName, err)
	}
	return rec, nil
}

// listAudit returns entries after..head of the snapshot, from the segments
// and, for a commit not yet materialized, from the intent. Entries beyond
// the snapshot's head (later commits) are left out.
func (sn *snapshot) listAudit(ctx context.Context, after uint64, limit int) ([]audit.Entry, error) {
	sp := sn.l.Spec
	head, err := revU(sp.Head.Seq)
	if err != nil {
		return nil, corrupt("%s %s/%s: head seq %d", kindLedger, sn.s.ns, ledgerName, sp.Head.Seq)
	}
	if after >= head {
		return nil, nil
	}
	segs := sp.Segments
	i, _ := slices.BinarySearch(segs, int64(after)+2) // first segment starting after after+1
	i = max(i-1, 0)
	var out []audit.Entry
	for ; i < len(segs); i++ {
		first, last := segs[i], int64(head)
		if i+1 < len(segs) {
			last = segs[i+1] - 1
		}
		if first < 1 || first > last {
			return nil, corrupt("%s %s/%s: segment list out of order at %d", kindLedger, sn.s.ns, ledgerName, first)
		}
		name := segmentName(first)
		var seg v1.AttestdAuditSegment
		found, err := sn.get(ctx, kindSegment, name, &seg)
		if err != nil {
			return nil, err
		}
		if found && seg.Spec.First != first {
			return nil, sn.edit(kindSegment, name, ReasonChanged, fmt.Sprintf("first seq %d, want %d", seg.Spec.First, first))
		}
		for seq := max(first, int64(after)+1); seq <= last; seq++ {
			if limit > 0 && len(out) == limit {
				return out, nil
			}
			es, ok := sn.entryAt(seg.Spec.Entries, first, seq)
			if !ok {
				return nil, &store.EntryError{Seq: uint64(seq), Err: fmt.Errorf("missing from %s %s/%s", kindSegment, sn.s.ns, name)}
			}
			e, err := entryFrom(es)
			if err == nil && e.Seq != uint64(seq) {
				err = fmt.Errorf("stored at the place of seq %d in %s %s", seq, kindSegment, name)
			}
			if err != nil {
				return nil, &store.EntryError{Seq: uint64(seq), Err: err}
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// entryAt returns entry seq of the segment starting at first: stored, or
// from the intent when the segment is behind it.
func (sn *snapshot) entryAt(stored []v1.AttestdAuditEntry, first, seq int64) (v1.AttestdAuditEntry, bool) {
	if idx := seq - first; idx < int64(len(stored)) {
		return stored[idx], true
	}
	if in := sn.l.Spec.Intent; in != nil && in.Segment == first && len(in.Entries) > 0 {
		if idx := seq - in.Entries[0].Seq; idx >= 0 && idx < int64(len(in.Entries)) {
			sn.usedIntent = true
			return in.Entries[idx], true
		}
	}
	return v1.AttestdAuditEntry{}, false
}
