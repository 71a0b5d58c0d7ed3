package registry_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
)

// hookStore wraps a Store: before delegating each Commit it calls before (if
// set) and counts the conflicts the real store reports.
type hookStore struct {
	store.Store
	before    func(n int) error
	commits   atomic.Int64
	conflicts atomic.Int64
}

func (h *hookStore) Commit(ctx context.Context, ch store.Change) (store.Committed, error) {
	n := int(h.commits.Add(1))
	if h.before != nil {
		if err := h.before(n); err != nil {
			return store.Committed{}, err
		}
	}
	c, err := h.Store.Commit(ctx, ch)
	if errors.Is(err, store.ErrConflict) {
		h.conflicts.Add(1)
	}
	return c, err
}

// TestConflictIsRetried makes another writer activate a release between the
// registry's read and its commit; the commit must conflict and the retry must
// build on the other writer's result.
func TestConflictIsRetried(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	base, s := openBolt(t, clk)
	must(base.Register(ctx, "ci", rel("app", "blue", 1)))(t)
	must(base.Register(ctx, "ci", rel("app", "green", 2)))(t)

	other := registry.New(s, registry.Options{Now: clk.Now})
	h := &hookStore{Store: s}
	h.before = func(n int) error {
		if n == 1 { // another replica activates blue first
			_, err := other.Activate(ctx, "replica-2", "app", "blue", time.Hour)
			return err
		}
		return nil
	}
	reg := registry.New(h, registry.Options{Now: clk.Now})
	green := must(reg.Activate(ctx, "replica-1", "app", "green", 10*time.Minute))(t)
	if h.conflicts.Load() != 1 || h.commits.Load() != 2 {
		t.Fatalf("%d commits, %d conflicts; want 2 and 1", h.commits.Load(), h.conflicts.Load())
	}
	blue := must(base.Get(ctx, "app", "blue"))(t)
	if green.State != release.Active || blue.State != release.Draining || !blue.DrainUntil.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("green %s, blue %s until %s", green.State, blue.State, blue.DrainUntil)
	}
	entries := must(base.Audit(ctx))(t)
	last := entries[len(entries)-3:]
	if last[0].Actor != "replica-2" || last[1].Action != audit.ActionActivate || last[2].Action != audit.ActionDrain || last[2].Release != "blue" {
		t.Fatalf("audit tail %+v", last)
	}
	must(base.VerifyAudit(ctx))(t)
}

func TestRetriesExhausted(t *testing.T) {
	ctx := context.Background()
	base, s := openBolt(t, &clock{now: t0})
	must(base.Register(ctx, "ci", rel("app", "blue", 1)))(t)
	h := &hookStore{Store: s, before: func(int) error {
		return &store.ConflictError{Key: "app/app", Expected: 1, Actual: 2}
	}}
	reg := registry.New(h, registry.Options{MaxAttempts: 3})
	_, err := reg.Activate(ctx, "op", "app", "blue", 0)
	if !errors.Is(err, registry.ErrBusy) || !errors.Is(err, store.ErrConflict) || h.commits.Load() != 3 {
		t.Fatalf("err = %v after %d commits", err, h.commits.Load())
	}
	if v := must(base.Get(ctx, "app", "blue"))(t); v.State != release.Candidate {
		t.Fatalf("state %s", v.State)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := reg.Activate(cctx, "op", "app", "blue", 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// TestConcurrentRegistryWriters runs registrations and activations from
// many goroutines against one bbolt store. Every operation must succeed, each
// app must end with exactly one active release, every activation but the
// first per app must have demoted exactly one predecessor, and the chain
// must verify.
func TestConcurrentRegistryWriters(t *testing.T) {
	ctx := context.Background()
	_, s := openBolt(t, nil)
	h := &hookStore{Store: s}
	reg := registry.New(h, registry.Options{})
	const workers, perWorker = 8, 6
	apps := []string{"alpha", "beta"}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				app, name := apps[(w+i)%len(apps)], fmt.Sprintf("w%d-%d", w, i)
				if _, err := reg.Register(ctx, fmt.Sprintf("worker-%d", w), rel(app, name, w*100+i)); err != nil {
					errs <- err
					return
				}
				if _, err := reg.Activate(ctx, fmt.Sprintf("worker-%d", w), app, name, time.Hour); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, app := range apps {
		active := 0
		for _, v := range must(reg.List(ctx, app))(t) {
			if v.State == release.Active {
				active++
			}
		}
		if active != 1 {
			t.Errorf("app %s has %d active releases", app, active)
		}
	}
	counts := map[audit.Action]int{}
	for _, e := range must(reg.Audit(ctx))(t) {
		counts[e.Action]++
	}
	n := workers * perWorker
	if counts[audit.ActionRegister] != n || counts[audit.ActionActivate] != n || counts[audit.ActionDrain] != n-len(apps) {
		t.Fatalf("audit actions %v, want %d registers, %d activations, %d drains", counts, n, n, n-len(apps))
	}
	st := must(reg.VerifyAudit(ctx))(t)
	if st.Entries != uint64(3*n-len(apps)) {
		t.Fatalf("%d entries", st.Entries)
	}
	t.Logf("%d commits, %d conflicts retried", h.commits.Load(), h.conflicts.Load())
}
