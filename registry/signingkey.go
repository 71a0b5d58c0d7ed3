package registry

import (
	"context"
	"time"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/store"
)

// signingKeyScanPage is how many entries LastSigningKeyRotation reads at a time.
const signingKeyScanPage = 1000

// LastSigningKeyRotation returns the last signing-key-rotate entry of the
// log (found false when there is none). It reads the whole log, page by page.
func (r *Registry) LastSigningKeyRotation(ctx context.Context) (last audit.Entry, found bool, err error) {
	var after uint64
	for {
		page, err := r.s.ListAudit(ctx, after, signingKeyScanPage)
		if err != nil {
			return audit.Entry{}, false, err
		}
		for _, e := range page {
			if e.Action == audit.ActionSigningKeyRotate {
				last, found = e, true
			}
		}
		if len(page) < signingKeyScanPage {
			return last, found, nil
		}
		after = page[len(page)-1].Seq
	}
}

// RecordSigningKeyRepair writes a signing-key-rotate entry with details
// repair=true: kid is the key found in use, previousKid the key the log
// named last, reason what happened (a rotation stopped between its steps).
func (r *Registry) RecordSigningKeyRepair(ctx context.Context, actor, previousKid, kid, reason string) error {
	if err := ValidateActor(actor); err != nil {
		return err
	}
	_, _, err := r.commit(ctx, "", func(now time.Time) (store.Change, error) {
		return store.Change{Audit: []audit.Record{{Time: now, Actor: actor, Action: audit.ActionSigningKeyRotate,
			Details: map[string]string{"kid": kid, "previous_kid": previousKid, "repair": "true", "reason": reason}}}}, nil
	})
	return err
}
