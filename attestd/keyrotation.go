package attestd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sgxops/sgxops/registry"
)

// A rotation through the admin API takes three steps, in this order, so that
// no key is ever used unless its rotation is in the audit log:
//
//  1. prepare the new key set (nothing stored);
//  2. audit it (a signing-key-rotate entry with the new kid);
//  3. store it (files one by one in keySetOrder, or the Secret at once);
//
// and only then sign with it. A crash after 2 and before the new key is
// stored leaves the log naming a key that is not in use: the next start with
// the file backend finds it (auditKeyInUse) and records a repair entry
// (details repair=true) naming the key in use. A store that fails while the
// process lives is recorded the same way at once.

// rotationStepHook, when set, is called after each step of a rotation (and
// after each file the file backend stores); tests crash there. Nil in
// production.
var rotationStepHook func(step string)

func rotationStep(step string) {
	if h := rotationStepHook; h != nil {
		h(step)
	}
}

// rotateAudited rotates cur (see rotateKeySet) with its audit entry written
// before the new keys are stored. It returns what storeRotation returns; when
// nothing was stored, the rotation's entry is followed by a repair entry
// naming cur as the key still in use.
func rotateAudited(ctx context.Context, ks keyStore, reg *registry.Registry, actor string, cur *SigningKey, now time.Time) (*SigningKey, error) {
	rot, err := prepareRotation(cur, now)
	if err != nil {
		return nil, err
	}
	rotationStep("prepared")
	if err := reg.RecordSigningKeyRotation(ctx, actor, cur.KeyID(), rot.key.KeyID()); err != nil {
		return nil, fmt.Errorf("attestd: audit entry (nothing rotated): %w", err)
	}
	rotationStep("audited")
	k, err := storeRotation(ctx, ks, cur, rot)
	if k == nil {
		reason := fmt.Sprintf("the rotation to %s was recorded but not stored (%v); %s stays in use", rot.key.KeyID(), err, cur.KeyID())
		if rerr := reg.RecordSigningKeyRepair(ctx, actor, rot.key.KeyID(), cur.KeyID(), reason); rerr != nil {
			err = errors.Join(err, fmt.Errorf("attestd: repair audit entry (the next start records it): %w", rerr))
		}
		return nil, err
	}
	rotationStep("stored")
	return k, err
}

// startActor is the actor of entries attestd writes by itself at start.
const startActor = "attestd"

// auditKeyInUse compares the key in use with the last signing-key-rotate
// entry of the log. When they differ (a rotation was recorded, then stopped
// before its key was stored), it records a repair entry naming the key in
// use and returns true. A log without such an entry has nothing to compare.
// Only for a key set one process owns (the file backend): in a cluster
// another replica may be between the steps of its rotation.
func auditKeyInUse(ctx context.Context, reg *registry.Registry, key *SigningKey) (bool, error) {
	last, found, err := reg.LastSigningKeyRotation(ctx)
	if err != nil || !found || last.Details["kid"] == key.KeyID() {
		return false, err
	}
	reason := fmt.Sprintf("at start the key in use is %s, but audit entry %d names %s: a rotation stopped between its audit entry and storing its key", key.KeyID(), last.Seq, last.Details["kid"])
	if err := reg.RecordSigningKeyRepair(ctx, startActor, last.Details["kid"], key.KeyID(), reason); err != nil {
		return false, err
	}
	return true, nil
}
