package registry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/store"
)

func checkType(t string) error {
	if err := store.ValidateAttestationType(t); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	return nil
}

// SetPolicy stores the policy of an attestation type: its text and the JWS
// it was uploaded as (both required; attestd parses and checks them before).
// The audit entry records SHA-256 digests of both, not the text.
func (r *Registry) SetPolicy(ctx context.Context, actor, attestationType, text, jws string) (store.PolicyRecord, error) {
	if err := ValidateActor(actor); err != nil {
		return store.PolicyRecord{}, err
	}
	if err := checkType(attestationType); err != nil {
		return store.PolicyRecord{}, err
	}
	if text == "" || jws == "" {
		return store.PolicyRecord{}, fmt.Errorf("%w: text and jws are required", ErrInvalidPolicy)
	}
	c, now, err := r.commit(ctx, "policy "+attestationType, func(now time.Time) (store.Change, error) {
		cur, err := r.s.GetPolicy(ctx, attestationType)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Change{}, err
		}
		return store.Change{
			Policies: []store.PolicyPut{{Type: attestationType, Text: text, JWS: jws, UpdatedAt: now, ExpectRevision: cur.Revision}},
			Audit: []audit.Record{{Time: now, Actor: actor, Action: audit.ActionPolicySet, Details: map[string]string{
				"attestation_type": attestationType, "policy_sha256": sum(text), "jws_sha256": sum(jws),
			}}},
		}, nil
	})
	if err != nil {
		return store.PolicyRecord{}, err
	}
	return store.PolicyRecord{Type: attestationType, Text: text, JWS: jws, UpdatedAt: now.Round(0).UTC(), Revision: c.Revision}, nil
}

// ResetPolicy removes the policy of an attestation type, so the default
// applies again. Resetting a type without a policy is recorded too.
func (r *Registry) ResetPolicy(ctx context.Context, actor, attestationType string) error {
	if err := ValidateActor(actor); err != nil {
		return err
	}
	if err := checkType(attestationType); err != nil {
		return err
	}
	_, _, err := r.commit(ctx, "policy "+attestationType, func(now time.Time) (store.Change, error) {
		cur, err := r.s.GetPolicy(ctx, attestationType)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Change{}, err
		}
		return store.Change{
			Policies: []store.PolicyPut{{Type: attestationType, Reset: true, ExpectRevision: cur.Revision}},
			Audit: []audit.Record{{Time: now, Actor: actor, Action: audit.ActionPolicyReset, Details: map[string]string{
				"attestation_type": attestationType, "had_policy": strconv.FormatBool(err == nil),
			}}},
		}, nil
	})
	return err
}

// Policy returns the policy of an attestation type;
// errors.Is(err, store.ErrNotFound) when the default applies.
func (r *Registry) Policy(ctx context.Context, attestationType string) (store.PolicyRecord, error) {
	return r.s.GetPolicy(ctx, attestationType)
}

// Policies returns every policy that is set.
func (r *Registry) Policies(ctx context.Context) ([]store.PolicyRecord, error) {
	return r.s.ListPolicies(ctx)
}

// Audit returns the whole audit log in seq order (unverified; see VerifyAudit).
func (r *Registry) Audit(ctx context.Context) ([]audit.Entry, error) {
	return r.s.ListAudit(ctx, 0, 0)
}

// AuditHead returns the head of the audit log.
func (r *Registry) AuditHead(ctx context.Context) (audit.Head, error) {
	return r.s.AuditHead(ctx)
}

// VerifyAudit verifies the audit chain; see store.VerifyLog.
func (r *Registry) VerifyAudit(ctx context.Context) (store.LogStatus, error) {
	return store.VerifyLog(ctx, r.s)
}
