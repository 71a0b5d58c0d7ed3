package kube

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
)

// maxReadAttempts bounds how often a read restarts because commits landed
// while it ran.
const maxReadAttempts = 10

// snapshot is one ledger read: the state of the trust set that reads
// resolve every object against.
type snapshot struct {
	s   *Store
	l   *v1.AttestdLedger
	rev int64
	// The last commit's content, by object name.
	intentRev   int64
	intentRel   map[string]*v1.AttestdReleaseSpec
	intentPol   map[string]*v1.AttestdPolicySpec
	intentCerts *v1.AttestdPolicyCertificatesSpec
	// usedIntent: some content came from the intent (not yet materialized).
	usedIntent bool
	// seen holds the objects read, by ledger key (see remember).
	seen map[string]client.Object
}

func newSnapshot(s *Store, l *v1.AttestdLedger) *snapshot {
	sn := &snapshot{s: s, l: l, rev: l.Spec.Revision,
		intentRel: map[string]*v1.AttestdReleaseSpec{}, intentPol: map[string]*v1.AttestdPolicySpec{},
		seen: map[string]client.Object{}}
	if in := l.Spec.Intent; in != nil {
		sn.intentRev = in.Revision
		for i := range in.Releases {
			r := &in.Releases[i]
			sn.intentRel[releaseName(r.App, r.Name)] = r
		}
		for i := range in.Policies {
			p := &in.Policies[i]
			sn.intentPol[policyName(p.Type)] = p
		}
		sn.intentCerts = in.PolicyCertificates
	}
	return sn
}

func (sn *snapshot) edit(kind, name string, reason Reason, detail string) error {
	return &EditError{Kind: kind, Namespace: sn.s.ns, Name: name, Reason: reason, Detail: detail}
}

// resolve returns the content the ledger commits to for one object: the
// stored spec when its digest matches, else the intent's when the object is
// behind it (a commit not yet materialized). stored is nil when the object
// does not exist; ok is false when the object is not in the store.
func resolve[S any](sn *snapshot, kind, name, key string, stored *S, storedRev int64, intent *S) (spec S, ok bool, err error) {
	want, inLedger := sn.l.Spec.Objects[key]
	switch {
	case !inLedger && stored == nil:
		return spec, false, nil
	case !inLedger && storedRev > sn.rev:
		return spec, false, &errMoved{kind: kind, name: name, rev: storedRev}
	case !inLedger:
		return spec, false, sn.edit(kind, name, ReasonCreated, "the ledger does not record it")
	case stored != nil && digest(stored) == want:
		return *stored, true, nil
	case intent != nil && behind(sn, key, stored, storedRev):
		sn.usedIntent = true
		return *intent, true, nil
	case stored != nil && storedRev > sn.rev:
		return spec, false, &errMoved{kind: kind, name: name, rev: storedRev}
	case stored == nil:
		return spec, false, sn.edit(kind, name, ReasonDeleted, "the ledger records it")
	}
	return spec, false, sn.edit(kind, name, ReasonChanged, fmt.Sprintf("its content (revision %d) does not match the digest in the ledger", storedRev))
}

// behind reports whether stored is what the intent replaced (absent, or at
// an older revision with the digest the intent recorded), so the intent is
// not yet materialized.
func behind[S any](sn *snapshot, key string, stored *S, storedRev int64) bool {
	prev := sn.l.Spec.Intent.Previous[key]
	if stored == nil {
		return prev == ""
	}
	return storedRev < sn.intentRev && digest(stored) == prev
}

// view runs fn on a fresh snapshot, again on a newer one when fn found an
// object written by a commit after the snapshot. A read that used the
// intent rolls it forward afterwards (unless read-only).
func (s *Store) view(ctx context.Context, fn func(*snapshot) error) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	var moved *errMoved
	for range maxReadAttempts {
		l, err := s.ledger(ctx)
		if err != nil {
			return err
		}
		sn := newSnapshot(s, l)
		if moved != nil && sn.rev < moved.rev {
			// The object was read before this ledger; no commit wrote it.
			return sn.edit(moved.kind, moved.name, ReasonRevision, fmt.Sprintf("object at %d, ledger at %d", moved.rev, sn.rev))
		}
		err = fn(sn)
		if errors.As(err, &moved) {
			continue
		}
		if err == nil && sn.usedIntent && !s.readOnly {
			s.rollForwardQuietly(ctx, l, nil)
		}
		return err
	}
	return fmt.Errorf("kube: the trust set changed during %d consecutive reads; try again", maxReadAttempts)
}

// ledger reads the ledger for a read or a commit.
func (s *Store) ledger(ctx context.Context) (*v1.AttestdLedger, error) {
	l, err := s.getLedger(ctx)
	if apierrors.IsNotFound(err) {
		return nil, &EditError{Kind: kindLedger, Namespace: s.ns, Name: ledgerName, Reason: ReasonDeleted}
	}
	if err != nil {
		return nil, fmt.Errorf("kube: reading the ledger: %w", err)
	}
	return l, checkSchema(l)
}
