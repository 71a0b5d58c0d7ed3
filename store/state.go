package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sgxops/sgxops/audit"
)

// Detail keys under which Commit records, in the audit record that names a
// write, the object's state after the commit (see Replay). Callers must not
// set them.
const (
	// DetailReleaseState is the JSON of the release.Release written.
	DetailReleaseState = "state.release"
	// DetailPolicyState is the JSON of a PolicyState.
	DetailPolicyState = "state.policy"
	// DetailPolicyCertsState is the JSON of a PolicyCertsState.
	DetailPolicyCertsState = "state.policy_certificates"
	// DetailRevision is the revision the commit gave the object (decimal).
	DetailRevision = "state.revision"
)

// statePrefix starts every detail key reserved for the store.
const statePrefix = "state."

// PolicyState is how an audit entry records a policy: its text and JWS by
// SHA-256 (they may be up to MaxPolicyLen each, more than an entry holds).
type PolicyState struct {
	Type       string    `json:"type"`
	Reset      bool      `json:"reset,omitempty"`
	TextSHA256 string    `json:"text_sha256,omitempty"`
	JWSSHA256  string    `json:"jws_sha256,omitempty"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
}

// PolicyCertsState is how an audit entry records the policy-management
// certificate set: its size and SHA256, the SHA-256 of the lines
// "thumbprint SHA-256(DER) added_at(RFC 3339, UTC)\n" of its certificates in
// order.
type PolicyCertsState struct {
	Count  int    `json:"count"`
	SHA256 string `json:"sha256"`
}

func sum256(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// policyState is the recorded form of p.
func policyState(p PolicyRecord) PolicyState {
	return PolicyState{Type: p.Type, TextSHA256: sum256(p.Text), JWSSHA256: sum256(p.JWS), UpdatedAt: p.UpdatedAt.Round(0).UTC()}
}

// policyCertsState is the recorded form of a certificate set.
func policyCertsState(certs []PolicyCert) PolicyCertsState {
	h := sha256.New()
	for _, c := range certs {
		d := sha256.Sum256(c.DER)
		fmt.Fprintf(h, "%s %x %s\n", c.Thumbprint, d, c.AddedAt.UTC().Format(time.RFC3339Nano))
	}
	return PolicyCertsState{Count: len(certs), SHA256: hex.EncodeToString(h.Sum(nil))}
}

// withState returns ch.Audit with the post-state of every object ch writes
// added to the record that names it: a release to the first record with its
// app and name, a policy to the first with details["attestation_type"] of
// its type, the certificate set to the first policy-cert-add or
// policy-cert-remove record; one object per record. A write that no record
// names is committed without state, so that replaying the log does not yield
// it (VerifyState reports it). The caller's records are not modified.
func withState(ch Change, rev uint64) ([]audit.Record, error) {
	recs := make([]audit.Record, len(ch.Audit))
	copy(recs, ch.Audit)
	for i, r := range recs {
		for k := range r.Details {
			if strings.HasPrefix(k, statePrefix) {
				return nil, invalid("audit record %d: detail %q is reserved for the store", i, k)
			}
		}
	}
	used := make([]bool, len(recs))
	revText := strconv.FormatUint(rev, 10)
	attach := func(match func(audit.Record) bool, key string, v any) error {
		for i, r := range recs {
			if used[i] || !match(r) {
				continue
			}
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			d := make(map[string]string, len(r.Details)+2)
			for k, v := range r.Details {
				d[k] = v
			}
			d[key], d[DetailRevision] = string(b), revText
			recs[i].Details, used[i] = d, true
			return nil
		}
		return nil
	}
	for _, p := range ch.Releases {
		app, name := p.Release.App, p.Release.Name
		if err := attach(func(r audit.Record) bool { return r.App == app && r.Release == name }, DetailReleaseState, p.Release); err != nil {
			return nil, err
		}
	}
	for _, p := range ch.Policies {
		st := PolicyState{Type: p.Type, Reset: true}
		if !p.Reset {
			st = policyState(PolicyRecord{Type: p.Type, Text: p.Text, JWS: p.JWS, UpdatedAt: p.UpdatedAt})
		}
		typ := p.Type
		if err := attach(func(r audit.Record) bool { return r.App == "" && r.Details["attestation_type"] == typ }, DetailPolicyState, st); err != nil {
			return nil, err
		}
	}
	if p := ch.PolicyCerts; p != nil {
		if err := attach(func(r audit.Record) bool {
			return r.Action == audit.ActionPolicyCertAdd || r.Action == audit.ActionPolicyCertRemove
		}, DetailPolicyCertsState, policyCertsState(p.Certs)); err != nil {
			return nil, err
		}
	}
	return recs, nil
}
