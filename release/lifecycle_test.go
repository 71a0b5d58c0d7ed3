package release_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sgxops/sgxops/release"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const mre = "3f1e6a6b1f1c4c7e8b0d5c9a2e4f6a8b0c1d2e3f405162738495a6b7c8d9eaf1"

// inState returns a valid release of app "hello" named name in state s.
func inState(t *testing.T, name string, s release.State) release.Release {
	t.Helper()
	r, err := release.NewCandidate(release.Release{App: "hello", Name: name, MREnclave: mre}, t0)
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Minute)
	switch s {
	case release.Candidate:
	case release.Active:
		r, _, err = release.Activate(r, nil, now, 0)
	case release.Draining:
		if r, _, err = release.Activate(r, nil, now, 0); err == nil {
			r, err = r.Drain(now, time.Hour)
		}
	case release.Retired:
		r, err = r.Retire(now)
	case release.Revoked:
		r, err = r.Revoke(now, "key leaked")
	}
	if err != nil {
		t.Fatalf("building %s release: %v", s, err)
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("built %s release invalid: %v", s, err)
	}
	return r
}

// apply performs the operation that leads to state to.
func apply(r release.Release, to release.State, now time.Time) (release.Release, error) {
	switch to {
	case release.Active:
		a, _, err := release.Activate(r, nil, now, time.Hour)
		return a, err
	case release.Draining:
		return r.Drain(now, time.Hour)
	case release.Retired:
		return r.Retire(now)
	case release.Revoked:
		return r.Revoke(now, "compromised")
	}
	return release.Release{}, fmt.Errorf("no operation leads to %s", to)
}

func TestTransitionTable(t *testing.T) {
	states := []release.State{release.Candidate, release.Active, release.Draining, release.Retired, release.Revoked}
	want := map[[2]release.State]bool{
		{release.Candidate, release.Active}:  true,
		{release.Candidate, release.Retired}: true,
		{release.Candidate, release.Revoked}: true,
		{release.Active, release.Draining}:   true,
		{release.Active, release.Retired}:    true,
		{release.Active, release.Revoked}:    true,
		{release.Draining, release.Active}:   true,
		{release.Draining, release.Retired}:  true,
		{release.Draining, release.Revoked}:  true,
		{release.Retired, release.Revoked}:   true,
	}
	now := t0.Add(2 * time.Minute) // inside the draining release's grace period
	for _, from := range states {
		for _, to := range states {
			if to == release.Candidate {
				continue // nothing leads back to candidate; CanTransition covers it below
			}
			t.Run(fmt.Sprintf("%s->%s", from, to), func(t *testing.T) {
				ok := want[[2]release.State{from, to}]
				if got := release.CanTransition(from, to); got != ok {
					t.Fatalf("CanTransition = %v, want %v", got, ok)
				}
				got, err := apply(inState(t, "v1", from), to, now)
				if !ok {
					var te *release.TransitionError
					if !errors.As(err, &te) || !errors.Is(err, release.ErrInvalidTransition) {
						t.Fatalf("err = %v, want *TransitionError", err)
					}
					if te.From != from || te.To != to {
						t.Fatalf("TransitionError = %+v", te)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got.State != to || !got.UpdatedAt.Equal(now) {
					t.Fatalf("state %s updated %s, want %s at %s", got.State, got.UpdatedAt, to, now)
				}
				if err := got.Validate(); err != nil {
					t.Fatalf("result invalid: %v", err)
				}
			})
		}
	}
	for _, from := range states {
		if release.CanTransition(from, release.Candidate) {
			t.Errorf("%s -> candidate allowed", from)
		}
	}
}

func TestActivateDemotesActiveSibling(t *testing.T) {
	v1 := inState(t, "v1", release.Active)
	v0 := inState(t, "v0", release.Retired)
	v2, err := release.NewCandidate(release.Release{App: "hello", Name: "v2", MRSigner: mre, ISVProdID: 1, MinISVSVN: 2}, t0)
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Hour)
	got, demoted, err := release.Activate(v2, []release.Release{v0, v1, v2}, now, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != release.Active {
		t.Fatalf("target state %s", got.State)
	}
	if len(demoted) != 1 || demoted[0].Name != "v1" || demoted[0].State != release.Draining ||
		!demoted[0].DrainUntil.Equal(now.Add(10*time.Minute)) {
		t.Fatalf("demoted = %+v", demoted)
	}
	if demoted[0].DrainExpired(now.Add(10*time.Minute-1)) || !demoted[0].DrainExpired(now.Add(10*time.Minute)) {
		t.Fatal("DrainExpired boundary wrong")
	}
}

func TestRollbackOfDrainingRelease(t *testing.T) {
	v1 := inState(t, "v1", release.Draining) // drains until t0+1m+1h
	v2 := inState(t, "v2", release.Active)
	within := t0.Add(30 * time.Minute)
	got, demoted, err := release.Activate(v1, []release.Release{v2}, within, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != release.Active || !got.DrainUntil.IsZero() {
		t.Fatalf("rolled back release = %+v", got)
	}
	if len(demoted) != 1 || demoted[0].Name != "v2" {
		t.Fatalf("demoted = %+v", demoted)
	}
	after := t0.Add(2 * time.Hour)
	_, _, err = release.Activate(v1, []release.Release{v2}, after, time.Minute)
	var te *release.TransitionError
	if !errors.As(err, &te) || te.Reason == "" {
		t.Fatalf("activating a drain-expired release: err = %v", err)
	}
}

func TestOperationArguments(t *testing.T) {
	active := inState(t, "v1", release.Active)
	tests := []struct {
		name  string
		op    func() error
		field string
	}{
		{"negative grace on drain", func() error { _, err := active.Drain(t0, -time.Second); return err }, "grace"},
		{"negative grace on activate", func() error {
			_, _, err := release.Activate(inState(t, "v2", release.Candidate), nil, t0, -1)
			return err
		}, "grace"},
		{"empty reason", func() error { _, err := active.Revoke(t0, "  \t"); return err }, "revoked_reason"},
		{"long reason", func() error { _, err := active.Revoke(t0, string(make([]byte, 1025))); return err }, "revoked_reason"},
		{"bad utf8 reason", func() error { _, err := active.Revoke(t0, "bad \xff"); return err }, "revoked_reason"},
		{"sibling of other app", func() error {
			other := active
			other.App = "other"
			_, _, err := release.Activate(inState(t, "v2", release.Candidate), []release.Release{other}, t0, 0)
			return err
		}, "app"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op()
			var fe *release.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, release.ErrInvalid) {
				t.Fatalf("err = %v, want FieldError on %s", err, tc.field)
			}
		})
	}
	r, err := active.Revoke(t0, "  leaked signing key \n")
	if err != nil || r.RevokedReason != "leaked signing key" {
		t.Fatalf("Revoke = %+v, %v", r, err)
	}
}
