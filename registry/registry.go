package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
)

// DefaultMaxAttempts is Options.MaxAttempts when zero.
const DefaultMaxAttempts = 32

// MaxActorLen is the longest actor name, in bytes.
const MaxActorLen = 256

var (
	// ErrExists: a release of that name already exists in the app.
	ErrExists = errors.New("registry: release already exists")
	// ErrDuplicateIdentity: another release of the app that is not retired
	// has the same identity (a revoked identity cannot be registered again).
	ErrDuplicateIdentity = errors.New("registry: identity already registered")
	// ErrInvalidActor: the actor name is empty, too long or not printable.
	ErrInvalidActor = errors.New("registry: invalid actor")
	// ErrInvalidPolicy: the attestation type, text or JWS of a policy is invalid.
	ErrInvalidPolicy = errors.New("registry: invalid policy")
	// ErrLastPolicyCert: removing the certificate would leave no
	// policy-management certificate at all.
	ErrLastPolicyCert = errors.New("registry: cannot remove the last policy-management certificate")
	// ErrBusy: the wait for other writes to the same app (Options.LockWait)
	// ran out, or every attempt conflicted with another writer (then the
	// error also matches store.ErrConflict). Retry later.
	ErrBusy = errors.New("registry: too many concurrent updates")

	// errNothing ends a commit attempt that has nothing to write (Sweep).
	errNothing = errors.New("registry: nothing to do")
)

// Options configures a Registry.
type Options struct {
	// Now returns the current time. Zero: time.Now.
	Now func() time.Time
	// MaxAttempts bounds the attempts of one operation when writes conflict.
	// Zero: DefaultMaxAttempts.
	MaxAttempts int
	// LockWait bounds how long a write waits for this process's other writes
	// to the same app (or policy type) before it fails with ErrBusy. Zero:
	// DefaultLockWait.
	LockWait time.Duration
}

// Registry performs audited lifecycle operations on a store. It is safe for
// concurrent use, also by several processes sharing one distributed store.
type Registry struct {
	s        store.Store
	now      func() time.Time
	attempts int
	lockWait time.Duration
	locks    keyLocks
	apps     appCache
}

// New returns a Registry on s. It does not take ownership of s.
func New(s store.Store, opts Options) *Registry {
	r := &Registry{s: s, now: opts.Now, attempts: opts.MaxAttempts, lockWait: opts.LockWait}
	if r.lockWait <= 0 {
		r.lockWait = DefaultLockWait
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.attempts <= 0 {
		r.attempts = DefaultMaxAttempts
	}
	return r
}

// View is a release as readers see it.
type View struct {
	release.Release
	Revision uint64 `json:"revision"`
	// DrainExpired is true for a draining release whose DrainUntil has passed.
	DrainExpired bool `json:"drain_expired"`
}

func view(rec store.ReleaseRecord, now time.Time) View {
	return View{Release: rec.Release, Revision: rec.Revision, DrainExpired: rec.Release.DrainExpired(now)}
}

// ValidateActor checks the name recorded as the actor of a change: 1 to
// MaxActorLen bytes of UTF-8 without control characters.
func ValidateActor(actor string) error {
	switch {
	case actor == "":
		return fmt.Errorf("%w: empty", ErrInvalidActor)
	case len(actor) > MaxActorLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidActor, MaxActorLen)
	case !utf8.ValidString(actor):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidActor)
	case strings.IndexFunc(actor, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: contains a control character", ErrInvalidActor)
	}
	return nil
}

// commit builds a change with build (which reads the store) and commits it,
// rebuilding and retrying on conflicts. Writes with the same non-empty key
// (an app, a policy type) wait for each other first.
func (r *Registry) commit(ctx context.Context, key string, build func(now time.Time) (store.Change, error)) (store.Committed, time.Time, error) {
	return r.commitThen(ctx, key, build, nil)
}

// commitThen is commit, and runs then (when not nil) after a successful
// commit while it still holds key's lock.
func (r *Registry) commitThen(ctx context.Context, key string, build func(now time.Time) (store.Change, error), then func(store.Committed)) (store.Committed, time.Time, error) {
	if key != "" {
		unlock, err := r.locks.lock(ctx, key, r.lockWait)
		if err != nil {
			return store.Committed{}, time.Time{}, err
		}
		defer unlock()
	}
	var last error
	for attempt := range r.attempts {
		if attempt > 0 {
			// Jittered backoff so that competing writers spread out.
			d := time.Duration(rand.Int64N(int64(min(attempt, 10)) * int64(time.Millisecond)))
			select {
			case <-ctx.Done():
				return store.Committed{}, time.Time{}, ctx.Err()
			case <-time.After(d):
			}
		}
		now := r.now()
		ch, err := build(now)
		if err != nil {
			return store.Committed{}, now, err
		}
		c, err := r.s.Commit(ctx, ch)
		if err == nil {
			if then != nil {
				then(c)
			}
			return c, now, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return store.Committed{}, now, err
		}
		last = err
	}
	return store.Committed{}, time.Time{}, fmt.Errorf("%w (%d attempts): %w", ErrBusy, r.attempts, last)
}

func record(now time.Time, actor string, action audit.Action, rel release.Release, details map[string]string) audit.Record {
	return audit.Record{Time: now, Actor: actor, Action: action, App: rel.App, Release: rel.Name, Details: details}
}

func identityDetails(rel release.Release) map[string]string {
	if d := rel.CVMIdentityDetails(); d != nil {
		return d
	}
	if rel.MREnclave != "" {
		return map[string]string{"mrenclave": rel.MREnclave}
	}
	return map[string]string{
		"mrsigner":    rel.MRSigner,
		"isv_prod_id": strconv.Itoa(int(rel.ISVProdID)),
		"min_isv_svn": strconv.Itoa(int(rel.MinISVSVN)),
	}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
