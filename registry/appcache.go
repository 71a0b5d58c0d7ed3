package registry

import (
	"context"
	"sync"

	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
)

// maxCachedApps bounds the apps whose releases a Registry keeps in memory.
const maxCachedApps = 256

// appState is what a registration checks about an app: its releases by
// name, the identities of those not retired, and the app's revision they
// were read at. A Registry keeps one per app it registers into, so that with
// a store that keeps app revisions (store.AppRevisioner) a registration costs
// the same whatever the app's size: it reads the revision, and lists the
// releases only when another write changed the app.
type appState struct {
	rev    uint64
	byName map[string]store.ReleaseRecord
	// ident maps the identity of a release that is not retired to its name.
	ident map[string]string
}

func newAppState(recs []store.ReleaseRecord) *appState {
	st := &appState{rev: store.AppRevision(recs), byName: make(map[string]store.ReleaseRecord, len(recs)), ident: map[string]string{}}
	for _, rec := range recs {
		st.add(rec)
	}
	return st
}

func (st *appState) add(rec store.ReleaseRecord) {
	st.byName[rec.Release.Name] = rec
	if rec.Release.State != release.Retired {
		st.ident[rec.Release.IdentityKey()] = rec.Release.Name
	}
	st.rev = max(st.rev, rec.Revision)
}

// appCache holds the appStates. An entry is read and changed only under the
// registry's lock of its app; mu guards the map itself.
type appCache struct {
	mu sync.Mutex
	m  map[string]*appState
}

func (c *appCache) get(app string) *appState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[app]
}

func (c *appCache) put(app string, st *appState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*appState{}
	}
	if _, ok := c.m[app]; !ok && len(c.m) >= maxCachedApps {
		for k := range c.m { // evict any one
			delete(c.m, k)
			break
		}
	}
	c.m[app] = st
}

// appState returns the state of app as stored now. The caller holds the
// app's lock.
func (r *Registry) appState(ctx context.Context, app string) (*appState, error) {
	ar, ok := r.s.(store.AppRevisioner)
	if ok {
		if st := r.apps.get(app); st != nil {
			rev, err := ar.AppRevision(ctx, app)
			if err != nil {
				return nil, err
			}
			if rev == st.rev {
				return st, nil
			}
		}
	}
	recs, err := r.s.ListReleases(ctx, app)
	if err != nil {
		return nil, err
	}
	st := newAppState(recs)
	if ok {
		r.apps.put(app, st)
	}
	return st, nil
}
