package kube_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/internal/k8stest"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/kube"
	"github.com/sgxops/sgxops/store/storetest"
)

// TestConcurrentStores runs rollouts from several Store instances (as
// several attestd replicas would) on one namespace at once: each registers
// a release and activates it, demoting the active one, guarded by the app's
// revision and retried on conflict. Every acknowledged commit must be
// there, each app must keep exactly one active release, and the audit chain
// must verify with one entry per acknowledged commit.
func TestConcurrentStores(t *testing.T) {
	k8stest.Skip(t)
	ctx := context.Background()
	ns := namespace(t)
	const stores, workers, perWorker = 3, 2, 6
	apps := []string{"alpha", "beta"}
	var ss []*kube.Store
	for range stores {
		s := open(t, ns)
		defer s.Close()
		ss = append(ss, s)
	}
	var mu sync.Mutex
	acked := map[string]bool{}
	conflicts := 0
	errs := make(chan error, stores*workers)
	var wg sync.WaitGroup
	for si, s := range ss {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWorker {
					app := apps[(si+w+i)%len(apps)]
					name := fmt.Sprintf("s%d-w%d-%d", si, w, i)
					for {
						err := rollout(ctx, s, app, name, si*100+w*10+i)
						if errors.Is(err, store.ErrConflict) {
							mu.Lock()
							conflicts++
							mu.Unlock()
							continue
						}
						if err != nil {
							errs <- fmt.Errorf("%s/%s: %w", app, name, err)
							return
						}
						mu.Lock()
						acked[app+"/"+name] = true
						mu.Unlock()
						break
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	reader := open(t, ns, func(o *kube.Options) { o.ReadOnly = true })
	all := must(reader.ListReleases(ctx, ""))(t)
	if len(all) != len(acked) {
		t.Fatalf("%d releases stored, %d commits acknowledged", len(all), len(acked))
	}
	active := map[string]int{}
	for _, r := range all {
		if !acked[r.Release.App+"/"+r.Release.Name] {
			t.Fatalf("unacknowledged release %s/%s", r.Release.App, r.Release.Name)
		}
		if r.Release.State == release.Active {
			active[r.Release.App]++
		}
	}
	for _, app := range apps {
		if active[app] != 1 {
			t.Fatalf("app %s has %d active releases", app, active[app])
		}
	}
	st, err := store.VerifyLog(ctx, reader)
	if err != nil || st.Entries != uint64(len(acked)) {
		t.Fatalf("VerifyLog = %+v, %v; want %d entries", st, err, len(acked))
	}
	t.Logf("%d commits from %d stores, %d conflicts retried", len(acked), stores, conflicts)
}

// rollout registers app/name and activates it in one guarded change.
func rollout(ctx context.Context, s store.Store, app, name string, i int) error {
	recs, err := s.ListReleases(ctx, app)
	if err != nil {
		return err
	}
	now := time.Now()
	cand, err := release.NewCandidate(release.Release{App: app, Name: name, MREnclave: storetest.Measurement(i)}, now)
	if err != nil {
		return err
	}
	var siblings []release.Release
	revs := map[string]uint64{}
	for _, r := range recs {
		siblings = append(siblings, r.Release)
		revs[r.Release.Name] = r.Revision
	}
	act, demoted, err := release.Activate(cand, siblings, now, time.Hour)
	if err != nil {
		return err
	}
	ch := store.Change{
		Guards:   []store.AppGuard{{App: app, Revision: store.AppRevision(recs)}},
		Releases: []store.ReleasePut{{Release: act}},
		Audit:    []audit.Record{{Time: now, Actor: "replica", Action: audit.ActionActivate, App: app, Release: name}},
	}
	for _, d := range demoted {
		ch.Releases = append(ch.Releases, store.ReleasePut{Release: d, ExpectRevision: revs[d.Name]})
	}
	_, err = s.Commit(ctx, ch)
	return err
}
