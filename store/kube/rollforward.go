package kube

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
)

// maxWriteAttempts bounds the retries of one object write that races
// another roll-forward of the same commit.
const maxWriteAttempts = 8

func (s *Store) isApplied(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied == id
}

func (s *Store) setApplied(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.applied = id
}

// rollForward materializes the ledger's intent: every object it wrote and
// its audit entries. It is idempotent and safe to run concurrently with
// other roll-forwards and with later commits: an object is only written
// while it is behind the intent's revision (compare-and-swap on its
// resourceVersion), so a late writer never undoes a newer commit. own is nil
// unless the caller just committed l: then the objects it creates are
// created without reading them first, and those it read for the commit
// (own, by ledger key) are updated without reading them again.
func (s *Store) rollForward(ctx context.Context, l *v1.AttestdLedger, own map[string]client.Object) error {
	in := l.Spec.Intent
	if in == nil || s.isApplied(in.ID) {
		return nil
	}
	fresh := func(key string) bool { return own != nil && in.Previous[key] == "" }
	for i := range in.Releases {
		r := in.Releases[i]
		labels := managedLabels()
		labels["sgxops.io/app"] = r.App
		err := upsert(ctx, s, kindRelease, releaseName(r.App, r.Name), fresh(prefixRelease+releaseName(r.App, r.Name)), own[prefixRelease+releaseName(r.App, r.Name)], labels, r, in.Revision,
			func() *v1.AttestdRelease { return &v1.AttestdRelease{} },
			func(o *v1.AttestdRelease) *v1.AttestdReleaseSpec { return &o.Spec })
		if err != nil {
			return err
		}
	}
	for i := range in.Policies {
		err := upsert(ctx, s, kindPolicy, policyName(in.Policies[i].Type), fresh(prefixPolicy+policyName(in.Policies[i].Type)), own[prefixPolicy+policyName(in.Policies[i].Type)], managedLabels(), in.Policies[i], in.Revision,
			func() *v1.AttestdPolicy { return &v1.AttestdPolicy{} },
			func(o *v1.AttestdPolicy) *v1.AttestdPolicySpec { return &o.Spec })
		if err != nil {
			return err
		}
	}
	if c := in.PolicyCertificates; c != nil {
		err := upsert(ctx, s, kindCerts, certsName, fresh(keyCerts), own[keyCerts], managedLabels(), *c, in.Revision,
			func() *v1.AttestdPolicyCertificates { return &v1.AttestdPolicyCertificates{} },
			func(o *v1.AttestdPolicyCertificates) *v1.AttestdPolicyCertificatesSpec { return &o.Spec })
		if err != nil {
			return err
		}
	}
	if len(in.Entries) > 0 {
		if err := s.appendEntries(ctx, in.Segment, in.Entries, own != nil); err != nil {
			return err
		}
	}
	s.setApplied(in.ID)
	return nil
}

// rollForwardQuietly is a roll-forward after a read that already has its
// answer: a failure is only reported to Observe (the next writer retries).
func (s *Store) rollForwardQuietly(ctx context.Context, l *v1.AttestdLedger, own map[string]client.Object) {
	start := time.Now()
	err := s.rollForward(ctx, l, own)
	s.report("roll-forward", start, err)
}

// revisioned is the part of a spec upsert needs.
type revisioned interface {
	v1.AttestdReleaseSpec | v1.AttestdPolicySpec | v1.AttestdPolicyCertificatesSpec
}

func specRevision(spec any) int64 {
	switch s := spec.(type) {
	case *v1.AttestdReleaseSpec:
		return s.Revision
	case *v1.AttestdPolicySpec:
		return s.Revision
	case *v1.AttestdPolicyCertificatesSpec:
		return s.Revision
	}
	panic(fmt.Sprintf("kube: no revision in %T", spec))
}

// upsert makes object name hold want (written by the commit at revision rev)
// unless it already does or a newer commit has replaced it. An object at
// revision rev with other content was changed by hand: an *EditError.
// fresh (the commit creates the object) tries a create before any read;
// known (when an O) is the object as read for the commit, used instead of
// the first read.
func upsert[O client.Object, S revisioned](ctx context.Context, s *Store, kind, name string, fresh bool, known client.Object,
	labels map[string]string, want S, rev int64, newObj func() O, spec func(O) *S) error {
	wantDigest := digest(&want)
	for range maxWriteAttempts {
		o := newObj()
		var err error
		k, isKnown := known.(O)
		known = nil
		switch {
		case fresh:
			fresh = false // create without reading first; only once
			err = apierrors.NewNotFound(schema.GroupResource{}, name)
		case isKnown:
			o = k
		default:
			err = s.call("get", kind, func() error { return s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: name}, o) })
		}
		if apierrors.IsNotFound(err) {
			o = newObj()
			o.SetName(name)
			o.SetNamespace(s.ns)
			o.SetLabels(labels)
			*spec(o) = want
			err = s.call("create", kind, func() error { return s.c.Create(ctx, o) })
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			return wrapWrite(err, kind, s.ns, name)
		}
		if err != nil {
			return wrapWrite(err, kind, s.ns, name)
		}
		cur := spec(o)
		switch got := specRevision(cur); {
		case digest(cur) == wantDigest, got > rev:
			return nil // done, or superseded by a later commit
		case got == rev:
			return &EditError{Kind: kind, Namespace: s.ns, Name: name, Reason: ReasonChanged,
				Detail: fmt.Sprintf("its content at revision %d does not match the commit's", rev)}
		}
		*cur = want
		err = s.call("update", kind, func() error { return s.c.Update(ctx, o) })
		if apierrors.IsConflict(err) {
			continue
		}
		return wrapWrite(err, kind, s.ns, name)
	}
	return fmt.Errorf("kube: writing %s %s/%s: still racing after %d attempts", kind, s.ns, name, maxWriteAttempts)
}

func wrapWrite(err error, kind, ns, name string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("kube: writing %s %s/%s: %w", kind, ns, name, err)
}

// appendEntries puts entries into the segment starting at first: appended
// after the entries before them, or left alone when already there.
func (s *Store) appendEntries(ctx context.Context, first int64, entries []v1.AttestdAuditEntry, own bool) error {
	name := segmentName(first)
	off := entries[0].Seq - first
	if off < 0 {
		return corrupt("%s %s/%s: intent entries start at %d, before the segment", kindLedger, s.ns, ledgerName, entries[0].Seq)
	}
	fresh := own && off == 0 // the commit starts the segment: create without reading first
	for range maxWriteAttempts {
		var seg v1.AttestdAuditSegment
		var err error
		if fresh {
			fresh = false
			err = apierrors.NewNotFound(schema.GroupResource{}, name)
		} else {
			err = s.call("get", kindSegment, func() error { return s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: name}, &seg) })
		}
		if apierrors.IsNotFound(err) {
			if off != 0 {
				return &EditError{Kind: kindSegment, Namespace: s.ns, Name: name, Reason: ReasonDeleted, Detail: "the ledger records entries in it"}
			}
			seg = v1.AttestdAuditSegment{Spec: v1.AttestdAuditSegmentSpec{First: first, Last: entries[len(entries)-1].Seq, Entries: entries}}
			seg.Name, seg.Namespace, seg.Labels = name, s.ns, managedLabels()
			err = s.call("create", kindSegment, func() error { return s.c.Create(ctx, &seg) })
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			return wrapWrite(err, kindSegment, s.ns, name)
		}
		if err != nil {
			return wrapWrite(err, kindSegment, s.ns, name)
		}
		have := seg.Spec.Entries
		if seg.Spec.First != first || int64(len(have)) < off {
			return &EditError{Kind: kindSegment, Namespace: s.ns, Name: name, Reason: ReasonChanged,
				Detail: fmt.Sprintf("holds %d entries from seq %d; the ledger needs %d from seq %d", len(have), seg.Spec.First, off, first)}
		}
		// Entries already stored must be the intent's (a roll-forward that
		// raced this one); the rest is appended.
		n := min(int64(len(have))-off, int64(len(entries)))
		for i := range n {
			if have[off+i].Hash != entries[i].Hash {
				return &EditError{Kind: kindSegment, Namespace: s.ns, Name: name, Reason: ReasonChanged,
					Detail: fmt.Sprintf("entry %d differs from the committed one", entries[i].Seq)}
			}
		}
		if n == int64(len(entries)) {
			return nil
		}
		seg.Spec.Entries = append(have[:off+n:off+n], entries[n:]...)
		seg.Spec.Last = seg.Spec.Entries[len(seg.Spec.Entries)-1].Seq
		err = s.call("update", kindSegment, func() error { return s.c.Update(ctx, &seg) })
		if apierrors.IsConflict(err) {
			continue
		}
		return wrapWrite(err, kindSegment, s.ns, name)
	}
	return fmt.Errorf("kube: writing %s %s/%s: still racing after %d attempts", kindSegment, s.ns, name, maxWriteAttempts)
}
