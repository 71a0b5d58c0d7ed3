package release

import (
	"fmt"
	"strings"
	"time"
)

// allowed is the transition table; see the package documentation.
var allowed = map[State][]State{
	Candidate: {Active, Retired, Revoked},
	Active:    {Draining, Retired, Revoked},
	Draining:  {Active, Retired, Revoked},
	Retired:   {Revoked},
	Revoked:   nil,
}

// CanTransition reports whether the table allows from -> to. Activating a
// draining release additionally requires that its drain has not expired.
func CanTransition(from, to State) bool {
	for _, s := range allowed[from] {
		if s == to {
			return true
		}
	}
	return false
}

// stamp strips the monotonic clock reading and the location, so that a value
// survives a JSON round trip unchanged.
func stamp(now time.Time) time.Time { return now.Round(0).UTC() }

func (r Release) transition(to State, now time.Time) (Release, error) {
	if !CanTransition(r.State, to) {
		return Release{}, &TransitionError{App: r.App, Name: r.Name, From: r.State, To: to}
	}
	r.State = to
	r.UpdatedAt = stamp(now)
	if to != Draining {
		r.DrainUntil = time.Time{}
	}
	return r, nil
}

// DrainExpired reports whether r is draining and its grace period ended at
// or before now.
func (r Release) DrainExpired(now time.Time) bool {
	return r.State == Draining && !now.Before(r.DrainUntil)
}

// NewCandidate validates and normalises r (see Normalize) and returns it as a
// candidate registered at now. r must not carry lifecycle state: State must
// be empty or candidate, DrainUntil and RevokedReason empty. CreatedAt and
// UpdatedAt are set to now.
func NewCandidate(r Release, now time.Time) (Release, error) {
	n, err := Normalize(r)
	if err != nil {
		return Release{}, err
	}
	switch {
	case n.State != "" && n.State != Candidate:
		return Release{}, fieldErr("state", "a new release starts as candidate, not %q", n.State)
	case !n.DrainUntil.IsZero():
		return Release{}, fieldErr("drain_until", "must be empty for a new release")
	case n.RevokedReason != "":
		return Release{}, fieldErr("revoked_reason", "must be empty for a new release")
	}
	n.State = Candidate
	n.CreatedAt = stamp(now)
	n.UpdatedAt = n.CreatedAt
	return n, nil
}

func checkGrace(grace time.Duration) error {
	if grace < 0 {
		return fieldErr("grace", "negative duration %s", grace)
	}
	return nil
}

// Activate makes target the active release of its app. siblings are the other
// releases of the same app (target itself, if present, is skipped); each
// active one is returned in demoted as draining until now+grace. target must
// be a candidate, or draining and not drain-expired (rollback).
func Activate(target Release, siblings []Release, now time.Time, grace time.Duration) (activated Release, demoted []Release, err error) {
	if err := checkGrace(grace); err != nil {
		return Release{}, nil, err
	}
	if target.DrainExpired(now) {
		return Release{}, nil, &TransitionError{App: target.App, Name: target.Name, From: target.State, To: Active,
			Reason: fmt.Sprintf("drain expired at %s", target.DrainUntil.Format(time.RFC3339))}
	}
	activated, err = target.transition(Active, now)
	if err != nil {
		return Release{}, nil, err
	}
	for _, s := range siblings {
		if s.App != target.App {
			return Release{}, nil, fieldErr("app", "sibling %s/%s is not of app %s", s.App, s.Name, target.App)
		}
		if s.Name == target.Name || s.State != Active {
			continue
		}
		d, err := s.Drain(now, grace)
		if err != nil {
			return Release{}, nil, err
		}
		demoted = append(demoted, d)
	}
	return activated, demoted, nil
}

// Drain moves an active release to draining: it stays accepted until
// now+grace.
func (r Release) Drain(now time.Time, grace time.Duration) (Release, error) {
	if err := checkGrace(grace); err != nil {
		return Release{}, err
	}
	d, err := r.transition(Draining, now)
	if err != nil {
		return Release{}, err
	}
	d.DrainUntil = stamp(now.Add(grace))
	return d, nil
}

// Retire moves a candidate, active or draining release to retired.
func (r Release) Retire(now time.Time) (Release, error) {
	return r.transition(Retired, now)
}

// Revoke moves any release that is not yet revoked to revoked, keeping
// reason (required, at most MaxReasonLen bytes of UTF-8; surrounding space is
// trimmed).
func (r Release) Revoke(now time.Time, reason string) (Release, error) {
	reason = strings.TrimSpace(reason)
	if err := validateReason(reason); err != nil {
		return Release{}, err
	}
	v, err := r.transition(Revoked, now)
	if err != nil {
		return Release{}, err
	}
	v.RevokedReason = reason
	return v, nil
}
