package registry

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/store"
)

// PolicyCerts returns the policy-management certificates added over the API.
func (r *Registry) PolicyCerts(ctx context.Context) (store.PolicyCertsRecord, error) {
	return r.s.GetPolicyCerts(ctx)
}

// AddPolicyCert adds a policy-management certificate (DER). Adding one that
// is present already changes nothing and writes no audit entry; added
// reports whether it was new.
func (r *Registry) AddPolicyCert(ctx context.Context, actor string, der []byte) (added bool, err error) {
	return r.changePolicyCerts(ctx, actor, der, true, false)
}

// RemovePolicyCert removes a policy-management certificate (DER). Removing
// one that is absent changes nothing; removed reports whether it was
// present. Unless keepNone is set, removing the last stored certificate
// fails with ErrLastPolicyCert (attestd sets keepNone when certificates from
// its configuration remain).
func (r *Registry) RemovePolicyCert(ctx context.Context, actor string, der []byte, keepNone bool) (removed bool, err error) {
	return r.changePolicyCerts(ctx, actor, der, false, keepNone)
}

// changePolicyCerts adds (add) or removes der, with its audit entry, and
// reports whether the stored set changed.
func (r *Registry) changePolicyCerts(ctx context.Context, actor string, der []byte, add, keepNone bool) (changed bool, err error) {
	c, err := checkPolicyCert(actor, der)
	if err != nil {
		return false, err
	}
	tp := store.PolicyCertThumbprint(der)
	_, _, err = r.commit(ctx, "policy certificates", func(now time.Time) (store.Change, error) {
		cur, err := r.s.GetPolicyCerts(ctx)
		if err != nil {
			return store.Change{}, err
		}
		i, found := slices.BinarySearchFunc(cur.Certs, tp, func(p store.PolicyCert, t string) int { return strings.Compare(p.Thumbprint, t) })
		changed = found != add
		var certs []store.PolicyCert
		action := audit.ActionPolicyCertAdd
		switch {
		case !changed:
			return store.Change{}, errNothing
		case add && len(cur.Certs) >= store.MaxPolicyCerts:
			return store.Change{}, fmt.Errorf("%w: already %d policy-management certificates", ErrInvalidPolicy, len(cur.Certs))
		case add:
			certs = slices.Insert(slices.Clone(cur.Certs), i, store.PolicyCert{Thumbprint: tp, DER: bytes.Clone(der), AddedAt: now})
		case len(cur.Certs) == 1 && !keepNone:
			return store.Change{}, ErrLastPolicyCert
		default:
			certs, action = slices.Delete(slices.Clone(cur.Certs), i, i+1), audit.ActionPolicyCertRemove
		}
		return store.Change{
			PolicyCerts: &store.PolicyCertsPut{Certs: certs, ExpectRevision: cur.Revision},
			Audit:       []audit.Record{certRecord(now, actor, action, tp, c, len(certs))},
		}, nil
	})
	if err == errNothing {
		err = nil
	}
	return changed, err
}

func checkPolicyCert(actor string, der []byte) (*x509.Certificate, error) {
	if err := ValidateActor(actor); err != nil {
		return nil, err
	}
	if len(der) > store.MaxPolicyCertSize {
		return nil, fmt.Errorf("%w: certificate of %d bytes exceeds %d", ErrInvalidPolicy, len(der), store.MaxPolicyCertSize)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: policy-management certificate: %v", ErrInvalidPolicy, err)
	}
	return c, nil
}

func certRecord(now time.Time, actor string, action audit.Action, tp string, c *x509.Certificate, remaining int) audit.Record {
	// The subject is the certificate owner's text: keep it valid UTF-8 and
	// bounded (the thumbprint identifies the certificate).
	subject := strings.ToValidUTF8(c.Subject.String(), "\uFFFD")
	for len(subject) > 256 {
		_, n := utf8.DecodeLastRuneInString(subject)
		subject = subject[:len(subject)-n]
	}
	return audit.Record{Time: now, Actor: actor, Action: action, Details: map[string]string{
		"thumbprint": tp, "subject": subject, "stored_certificates": strconv.Itoa(remaining),
	}}
}

// RecordSigningKeyRotation writes the audit entry of a token-signing key
// rotation (the keys themselves are files of attestd's, not store data).
func (r *Registry) RecordSigningKeyRotation(ctx context.Context, actor, previousKid, kid string) error {
	if err := ValidateActor(actor); err != nil {
		return err
	}
	_, _, err := r.commit(ctx, "", func(now time.Time) (store.Change, error) {
		return store.Change{Audit: []audit.Record{{Time: now, Actor: actor, Action: audit.ActionSigningKeyRotate,
			Details: map[string]string{"kid": kid, "previous_kid": previousKid}}}}, nil
	})
	return err
}
