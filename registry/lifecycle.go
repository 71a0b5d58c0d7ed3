package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
)

// Register adds rel as a candidate. Its name must be new within the app
// (ErrExists) and its identity must not belong to another release of the app
// unless that release is retired (ErrDuplicateIdentity); invalid fields are a
// *release.FieldError.
func (r *Registry) Register(ctx context.Context, actor string, rel release.Release) (View, error) {
	if err := ValidateActor(actor); err != nil {
		return View{}, err
	}
	var cand release.Release
	var st *appState
	c, _, err := r.commitThen(ctx, "app "+rel.App, func(now time.Time) (store.Change, error) {
		var err error
		if cand, err = release.NewCandidate(rel, now); err != nil {
			return store.Change{}, err
		}
		if st, err = r.appState(ctx, cand.App); err != nil {
			return store.Change{}, err
		}
		if o, ok := st.byName[cand.Name]; ok {
			return store.Change{}, fmt.Errorf("%w: %s/%s", ErrExists, o.Release.App, o.Release.Name)
		}
		if name, ok := st.ident[cand.IdentityKey()]; ok {
			o := st.byName[name].Release
			return store.Change{}, fmt.Errorf("%w: %s/%s (%s) has %s", ErrDuplicateIdentity, o.App, o.Name, o.State, cand.IdentityKey())
		}
		return store.Change{
			Guards:   []store.AppGuard{{App: cand.App, Revision: st.rev}},
			Releases: []store.ReleasePut{{Release: cand}},
			Audit:    []audit.Record{record(now, actor, audit.ActionRegister, cand, identityDetails(cand))},
		}, nil
	}, func(c store.Committed) {
		// The guard held: the app is what st says plus this release.
		st.add(store.ReleaseRecord{Release: cand, Revision: c.Revision})
	})
	if err != nil {
		return View{}, err
	}
	return View{Release: cand, Revision: c.Revision}, nil
}

func find(recs []store.ReleaseRecord, app, name string) (store.ReleaseRecord, error) {
	for _, rec := range recs {
		if rec.Release.Name == name {
			return rec, nil
		}
	}
	return store.ReleaseRecord{}, fmt.Errorf("registry: release %s/%s: %w", app, name, store.ErrNotFound)
}

// Activate makes app/name the active release. Another active release of the
// app becomes draining until now+grace (grace >= 0). A candidate can be
// activated, and so can a draining release whose grace period lasts
// (rollback); other states give a *release.TransitionError.
func (r *Registry) Activate(ctx context.Context, actor, app, name string, grace time.Duration) (View, error) {
	if err := checkArgs(actor, app, name); err != nil {
		return View{}, err
	}
	var activated release.Release
	c, now, err := r.commit(ctx, "app "+app, func(now time.Time) (store.Change, error) {
		recs, err := r.s.ListReleases(ctx, app)
		if err != nil {
			return store.Change{}, err
		}
		target, err := find(recs, app, name)
		if err != nil {
			return store.Change{}, err
		}
		siblings := make([]release.Release, 0, len(recs))
		for _, rec := range recs {
			siblings = append(siblings, rec.Release)
		}
		act, demoted, err := release.Activate(target.Release, siblings, now, grace)
		if err != nil {
			return store.Change{}, err
		}
		activated = act
		ch := store.Change{
			Guards:   []store.AppGuard{{App: app, Revision: store.AppRevision(recs)}},
			Releases: []store.ReleasePut{{Release: act, ExpectRevision: target.Revision}},
		}
		details := map[string]string{"from": string(target.Release.State)}
		var names []string
		for _, d := range demoted {
			names = append(names, d.Name)
		}
		if len(names) > 0 {
			details["demoted"] = strings.Join(names, ",")
			details["grace"] = grace.String()
		}
		ch.Audit = append(ch.Audit, record(now, actor, audit.ActionActivate, act, details))
		for _, d := range demoted {
			prev, _ := find(recs, app, d.Name)
			ch.Releases = append(ch.Releases, store.ReleasePut{Release: d, ExpectRevision: prev.Revision})
			ch.Audit = append(ch.Audit, record(now, actor, audit.ActionDrain, d, map[string]string{
				"from": string(release.Active), "successor": name, "grace": grace.String(), "drain_until": stamp(d.DrainUntil),
			}))
		}
		return ch, nil
	})
	if err != nil {
		return View{}, err
	}
	return View{Release: activated, Revision: c.Revision, DrainExpired: activated.DrainExpired(now)}, nil
}

func checkArgs(actor, app, name string) error {
	if err := ValidateActor(actor); err != nil {
		return err
	}
	if err := release.ValidateName("app", app); err != nil {
		return err
	}
	return release.ValidateName("name", name)
}

// update applies op to one release and records action with details.
func (r *Registry) update(ctx context.Context, actor, app, name string, action audit.Action,
	op func(rel release.Release, now time.Time) (release.Release, map[string]string, error)) (View, error) {
	if err := checkArgs(actor, app, name); err != nil {
		return View{}, err
	}
	var next release.Release
	c, now, err := r.commit(ctx, "app "+app, func(now time.Time) (store.Change, error) {
		cur, err := r.s.GetRelease(ctx, app, name)
		if err != nil {
			return store.Change{}, err
		}
		n, details, err := op(cur.Release, now)
		if err != nil {
			return store.Change{}, err
		}
		details["from"] = string(cur.Release.State)
		next = n
		return store.Change{
			Releases: []store.ReleasePut{{Release: n, ExpectRevision: cur.Revision}},
			Audit:    []audit.Record{record(now, actor, action, n, details)},
		}, nil
	})
	if err != nil {
		return View{}, err
	}
	return View{Release: next, Revision: c.Revision, DrainExpired: next.DrainExpired(now)}, nil
}

// Drain moves an active release to draining until now+grace, without
// activating a successor (e.g. when an app is being decommissioned).
func (r *Registry) Drain(ctx context.Context, actor, app, name string, grace time.Duration) (View, error) {
	return r.update(ctx, actor, app, name, audit.ActionDrain, func(rel release.Release, now time.Time) (release.Release, map[string]string, error) {
		d, err := rel.Drain(now, grace)
		return d, map[string]string{"grace": grace.String(), "drain_until": stamp(d.DrainUntil)}, err
	})
}

// Retire moves a candidate, active or draining release to retired.
func (r *Registry) Retire(ctx context.Context, actor, app, name string) (View, error) {
	return r.update(ctx, actor, app, name, audit.ActionRetire, func(rel release.Release, now time.Time) (release.Release, map[string]string, error) {
		d, err := rel.Retire(now)
		return d, map[string]string{}, err
	})
}

// Revoke moves any release that is not revoked to revoked; reason is
// required and kept with the release and in the audit entry.
func (r *Registry) Revoke(ctx context.Context, actor, app, name, reason string) (View, error) {
	return r.update(ctx, actor, app, name, audit.ActionRevoke, func(rel release.Release, now time.Time) (release.Release, map[string]string, error) {
		d, err := rel.Revoke(now, reason)
		return d, map[string]string{"reason": d.RevokedReason}, err
	})
}

// Get returns one release; errors.Is(err, store.ErrNotFound) when absent.
func (r *Registry) Get(ctx context.Context, app, name string) (View, error) {
	rec, err := r.s.GetRelease(ctx, app, name)
	if err != nil {
		return View{}, err
	}
	return view(rec, r.now()), nil
}

// List returns the releases of app ("" for every app), ordered by app and name.
func (r *Registry) List(ctx context.Context, app string) ([]View, error) {
	recs, err := r.s.ListReleases(ctx, app)
	if err != nil {
		return nil, err
	}
	now := r.now()
	out := make([]View, 0, len(recs))
	for _, rec := range recs {
		out = append(out, view(rec, now))
	}
	return out, nil
}

// Sweep retires every drain-expired release in one commit, with one audit
// entry each, and returns them (none: nil, and nothing is written).
func (r *Registry) Sweep(ctx context.Context, actor string) ([]View, error) {
	if err := ValidateActor(actor); err != nil {
		return nil, err
	}
	var retired []release.Release
	c, now, err := r.commit(ctx, "", func(now time.Time) (store.Change, error) {
		recs, err := r.s.ListReleases(ctx, "")
		if err != nil {
			return store.Change{}, err
		}
		retired = nil
		var ch store.Change
		for _, rec := range recs {
			if !rec.Release.DrainExpired(now) {
				continue
			}
			n, err := rec.Release.Retire(now)
			if err != nil {
				return store.Change{}, err
			}
			retired = append(retired, n)
			ch.Releases = append(ch.Releases, store.ReleasePut{Release: n, ExpectRevision: rec.Revision})
			ch.Audit = append(ch.Audit, record(now, actor, audit.ActionRetire, n, map[string]string{
				"from": string(release.Draining), "cause": "drain expired", "drain_until": stamp(rec.Release.DrainUntil),
			}))
		}
		if len(retired) == 0 {
			return store.Change{}, errNothing
		}
		return ch, nil
	})
	if errors.Is(err, errNothing) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]View, 0, len(retired))
	for _, n := range retired {
		out = append(out, View{Release: n, Revision: c.Revision, DrainExpired: n.DrainExpired(now)})
	}
	slices.SortFunc(out, func(a, b View) int { return strings.Compare(a.App+"\x00"+a.Name, b.App+"\x00"+b.Name) })
	return out, nil
}
