package store

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/release"
)

// MaxPolicyLen bounds a stored policy's text and JWS, in bytes each.
const MaxPolicyLen = 1 << 20

// ValidateAttestationType checks an attestation type used as a policy key:
// 1 to 64 ASCII letters and digits, e.g. "SgxEnclave".
func ValidateAttestationType(t string) error {
	if t == "" || len(t) > 64 {
		return fmt.Errorf("store: attestation type %q: want 1 to 64 letters and digits: %w", t, ErrInvalidChange)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return fmt.Errorf("store: attestation type %q: invalid character at offset %d: %w", t, i, ErrInvalidChange)
		}
	}
	return nil
}

// releaseKey is the storage key of a release. The NUL separator (names never
// contain it) makes byte order equal (app, name) order.
func releaseKey(app, name string) string { return app + "\x00" + name }

// checkChange validates ch without looking at stored data.
func checkChange(ch Change) error {
	if len(ch.Releases) == 0 && len(ch.Policies) == 0 && ch.PolicyCerts == nil && len(ch.Audit) == 0 {
		return invalid("empty change")
	}
	for _, g := range ch.Guards {
		if err := release.ValidateName("app", g.App); err != nil {
			return fmt.Errorf("store: guard: %w: %w", ErrInvalidChange, err)
		}
	}
	seen := map[string]bool{}
	for _, p := range ch.Releases {
		if err := p.Release.Validate(); err != nil {
			return fmt.Errorf("store: release %s/%s: %w: %w", p.Release.App, p.Release.Name, ErrInvalidChange, err)
		}
		k := releaseKey(p.Release.App, p.Release.Name)
		if seen[k] {
			return invalid("release %s/%s written twice", p.Release.App, p.Release.Name)
		}
		seen[k] = true
	}
	seen = map[string]bool{}
	for _, p := range ch.Policies {
		if err := ValidateAttestationType(p.Type); err != nil {
			return err
		}
		if seen[p.Type] {
			return invalid("policy %s written twice", p.Type)
		}
		seen[p.Type] = true
		if p.Reset {
			continue
		}
		switch {
		case p.Text == "" || p.JWS == "":
			return invalid("policy %s: text and jws are required", p.Type)
		case len(p.Text) > MaxPolicyLen || len(p.JWS) > MaxPolicyLen:
			return invalid("policy %s: longer than %d bytes", p.Type, MaxPolicyLen)
		case p.UpdatedAt.IsZero():
			return invalid("policy %s: updated_at is required", p.Type)
		}
	}
	if ch.PolicyCerts != nil {
		if err := checkPolicyCerts(ch.PolicyCerts.Certs); err != nil {
			return err
		}
	}
	return nil
}

// Bounds of the policy-management certificate set.
const (
	MaxPolicyCerts    = 100
	MaxPolicyCertSize = 64 << 10
)

// PolicyCertThumbprint is the thumbprint of a certificate's DER encoding:
// upper-case hex SHA-1, as MAA's x-ms-certificate-thumbprint.
func PolicyCertThumbprint(der []byte) string {
	sum := sha1.Sum(der)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func checkPolicyCerts(certs []PolicyCert) error {
	if len(certs) > MaxPolicyCerts {
		return invalid("%d policy certificates, at most %d", len(certs), MaxPolicyCerts)
	}
	for i, c := range certs {
		switch {
		case len(c.DER) == 0 || len(c.DER) > MaxPolicyCertSize:
			return invalid("policy certificate %d: %d bytes, want 1 to %d", i, len(c.DER), MaxPolicyCertSize)
		case c.Thumbprint != PolicyCertThumbprint(c.DER):
			return invalid("policy certificate %d: thumbprint %q is not the SHA-1 of its DER", i, c.Thumbprint)
		case c.AddedAt.IsZero():
			return invalid("policy certificate %s: added_at is required", c.Thumbprint)
		case i > 0 && certs[i-1].Thumbprint >= c.Thumbprint:
			return invalid("policy certificates must be ordered by thumbprint without duplicates (at %d)", i)
		}
	}
	return nil
}

// txn is one atomic transaction of an implementation. Reads see the
// transaction's own writes. Commit logic shared by the implementations
// performs every check and every fallible computation before the first write.
type txn interface {
	getRelease(app, name string) (ReleaseRecord, bool, error)
	listReleases(app string) ([]ReleaseRecord, error)
	getPolicy(typ string) (PolicyRecord, bool, error)
	getPolicyCerts() (PolicyCertsRecord, error)
	revision() (uint64, error)
	head() (audit.Head, error)

	putRelease(ReleaseRecord) error
	putPolicy(PolicyRecord) error
	deletePolicy(typ string) error
	putPolicyCerts(PolicyCertsRecord) error
	appendEntry(audit.Entry) error
	setRevision(uint64) error
	setHead(audit.Head) error
}

// appRevTxn is implemented by transactions that read an app's revision from
// a record of its own instead of listing its releases.
type appRevTxn interface {
	appRevision(app string) (uint64, error)
}

// guardRevision is the app's revision as an AppGuard compares it.
func guardRevision(tx txn, app string) (uint64, error) {
	if a, ok := tx.(appRevTxn); ok {
		return a.appRevision(app)
	}
	recs, err := tx.listReleases(app)
	if err != nil {
		return 0, err
	}
	return AppRevision(recs), nil
}

// applyChange checks ch against tx and writes it. ch must have passed checkChange.
func applyChange(tx txn, ch Change) (Committed, error) {
	for _, g := range ch.Guards {
		got, err := guardRevision(tx, g.App)
		if err != nil {
			return Committed{}, err
		}
		if got != g.Revision {
			return Committed{}, &ConflictError{Key: "app/" + g.App, Expected: g.Revision, Actual: got}
		}
	}
	for _, p := range ch.Releases {
		cur, _, err := tx.getRelease(p.Release.App, p.Release.Name)
		if err != nil {
			return Committed{}, err
		}
		if cur.Revision != p.ExpectRevision {
			return Committed{}, &ConflictError{Key: "release/" + p.Release.App + "/" + p.Release.Name,
				Expected: p.ExpectRevision, Actual: cur.Revision}
		}
	}
	for _, p := range ch.Policies {
		cur, _, err := tx.getPolicy(p.Type)
		if err != nil {
			return Committed{}, err
		}
		if cur.Revision != p.ExpectRevision {
			return Committed{}, &ConflictError{Key: "policy/" + p.Type, Expected: p.ExpectRevision, Actual: cur.Revision}
		}
	}
	if p := ch.PolicyCerts; p != nil {
		cur, err := tx.getPolicyCerts()
		if err != nil {
			return Committed{}, err
		}
		if cur.Revision != p.ExpectRevision {
			return Committed{}, &ConflictError{Key: "policy-certificates", Expected: p.ExpectRevision, Actual: cur.Revision}
		}
	}
	rev, err := tx.revision()
	if err != nil {
		return Committed{}, err
	}
	rev++
	head, err := tx.head()
	if err != nil {
		return Committed{}, err
	}
	recs, err := withState(ch, rev)
	if err != nil {
		return Committed{}, err
	}
	entries := make([]audit.Entry, 0, len(recs))
	for i, r := range recs {
		e, err := audit.Seal(head, r)
		if err != nil {
			return Committed{}, fmt.Errorf("store: audit record %d: %w: %w", i, ErrInvalidChange, err)
		}
		entries = append(entries, e)
		head = e.Head()
	}

	for _, p := range ch.Releases {
		if err := tx.putRelease(ReleaseRecord{Release: p.Release, Revision: rev}); err != nil {
			return Committed{}, err
		}
	}
	for _, p := range ch.Policies {
		if p.Reset {
			err = tx.deletePolicy(p.Type)
		} else {
			err = tx.putPolicy(PolicyRecord{Type: p.Type, Text: p.Text, JWS: p.JWS,
				UpdatedAt: p.UpdatedAt.Round(0).UTC(), Revision: rev})
		}
		if err != nil {
			return Committed{}, err
		}
	}
	if p := ch.PolicyCerts; p != nil {
		certs := make([]PolicyCert, len(p.Certs))
		for i, c := range p.Certs {
			certs[i] = PolicyCert{Thumbprint: c.Thumbprint, DER: slices.Clone(c.DER), AddedAt: c.AddedAt.Round(0).UTC()}
		}
		if err := tx.putPolicyCerts(PolicyCertsRecord{Certs: certs, Revision: rev}); err != nil {
			return Committed{}, err
		}
	}
	for _, e := range entries {
		if err := tx.appendEntry(e); err != nil {
			return Committed{}, err
		}
	}
	if err := tx.setRevision(rev); err != nil {
		return Committed{}, err
	}
	if len(entries) > 0 {
		if err := tx.setHead(head); err != nil {
			return Committed{}, err
		}
	}
	return Committed{Revision: rev, Entries: entries}, nil
}
