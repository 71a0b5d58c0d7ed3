package registry_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
)

// TestConcurrentRegistrationsWait is the reproduction of issue 13's fourth
// defect: 32 concurrent registrations to one app answered 22% "too many
// concurrent updates". Writes to one app now wait their turn: all succeed.
func TestConcurrentRegistrationsWait(t *testing.T) {
	ctx := context.Background()
	reg, s := openBolt(t, nil)
	for i := range 300 { // a grown app: each attempt reads more
		must(reg.Register(ctx, "ci", rel("app", fmt.Sprintf("old%04d", i), 100000+i)))(t)
	}
	h := &hookStore{Store: s}
	reg = registry.New(h, registry.Options{})
	const n = 32
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = reg.Register(ctx, "ci", rel("app", fmt.Sprintf("new%02d", i), i)) })
	}
	wg.Wait()
	busy := 0
	for _, err := range errs {
		if errors.Is(err, registry.ErrBusy) {
			busy++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if busy > 0 {
		t.Fatalf("%d of %d concurrent registrations failed busy", busy, n)
	}
	if c := h.conflicts.Load(); c != 0 {
		t.Errorf("%d store conflicts: writers of one app should wait for each other, not conflict", c)
	}
}

// TestLockWaitBounded: a write that waits longer than LockWait for another
// write to the same app fails with ErrBusy; other apps do not wait.
func TestLockWaitBounded(t *testing.T) {
	ctx := context.Background()
	s, err := store.OpenBolt(filepath.Join(t.TempDir(), store.DefaultBoltFile), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	entered, hold := make(chan struct{}), make(chan struct{})
	h := &hookStore{Store: s}
	h.before = func(n int) error {
		if n == 1 {
			close(entered)
			<-hold
		}
		return nil
	}
	reg := registry.New(h, registry.Options{LockWait: 50 * time.Millisecond})
	done := make(chan error)
	go func() { _, err := reg.Register(ctx, "ci", rel("app", "slow", 1)); done <- err }()
	<-entered
	start := time.Now()
	_, err = reg.Register(ctx, "ci", rel("app", "waits", 2))
	if !errors.Is(err, registry.ErrBusy) || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("second write to app: %v after %s, want ErrBusy after the 50ms wait", err, time.Since(start))
	}
	if _, err := reg.Register(ctx, "ci", rel("other", "free", 3)); err != nil {
		t.Fatalf("another app waited: %v", err)
	}
	close(hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRegistration reports registrations/s on a new app and on an app
// with 1,500 releases, and their ratio, in the same run.
func BenchmarkRegistration(b *testing.B) {
	ctx := context.Background()
	s, err := store.OpenBolt(filepath.Join(b.TempDir(), store.DefaultBoltFile), store.BoltOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	reg := registry.New(s, registry.Options{})
	for i := range 1500 {
		if _, err := reg.Register(ctx, "ci", rel("big", fmt.Sprintf("r%05d", i), 200000+i)); err != nil {
			b.Fatal(err)
		}
	}
	rate := func(app string, base, n int) float64 {
		start := time.Now()
		for i := range n {
			if _, err := reg.Register(ctx, "ci", rel(app, fmt.Sprintf("b%05d", base+i), 300000+base+i)); err != nil {
				b.Fatal(err)
			}
		}
		return float64(n) / time.Since(start).Seconds()
	}
	// 32 concurrent registrations to the big app: how many answer busy.
	burst := func(i int) (busy int) {
		var wg sync.WaitGroup
		errs := make([]error, 32)
		for j := range 32 {
			wg.Go(func() {
				_, errs[j] = reg.Register(ctx, "ci", rel("big", fmt.Sprintf("c%03d-%02d", i, j), 400000+i*32+j))
			})
		}
		wg.Wait()
		for _, err := range errs {
			if errors.Is(err, registry.ErrBusy) {
				busy++
			} else if err != nil {
				b.Fatal(err)
			}
		}
		return busy
	}
	var fresh, big float64
	busy, i := 0, 0
	for b.Loop() {
		const n = 50
		fresh += rate(fmt.Sprintf("fresh%d", i), 2*i*n, n)
		big += rate("big", (2*i+1)*n, n)
		busy += burst(i)
		i++
	}
	b.ReportMetric(fresh/float64(i), "reg/s-new-app")
	b.ReportMetric(big/float64(i), "reg/s-1500-releases")
	b.ReportMetric(big/fresh, "ratio")
	b.ReportMetric(float64(busy)/float64(i), "busy-of-32-concurrent")
}

// listCounter counts ListReleases calls; it keeps the store's
// AppRevisioner.
type listCounter struct {
	*store.Bolt
	lists atomic.Int64
}

func (l *listCounter) ListReleases(ctx context.Context, app string) ([]store.ReleaseRecord, error) {
	l.lists.Add(1)
	return l.Bolt.ListReleases(ctx, app)
}

// TestRegistrationCostIndependentOfAppSize: registering into an app with
// 1,500 releases lists them once (then the registry keeps them, and reads
// only the app's revision record per registration), not once per
// registration as it used to (~38/s at 1,500 releases vs ~400/s on a new app).
func TestRegistrationCostIndependentOfAppSize(t *testing.T) {
	ctx := context.Background()
	s, err := store.OpenBolt(filepath.Join(t.TempDir(), store.DefaultBoltFile), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ch store.Change
	for i := range 1500 {
		r, err := release.NewCandidate(rel("big", fmt.Sprintf("r%05d", i), 500000+i), t0)
		if err != nil {
			t.Fatal(err)
		}
		ch.Releases = append(ch.Releases, store.ReleasePut{Release: r})
	}
	if _, err := s.Commit(ctx, ch); err != nil {
		t.Fatal(err)
	}
	lc := &listCounter{Bolt: s}
	reg := registry.New(lc, registry.Options{})
	for i := range 50 {
		if _, err := reg.Register(ctx, "ci", rel("big", fmt.Sprintf("n%03d", i), 600000+i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := lc.lists.Load(); n != 1 {
		t.Fatalf("50 registrations listed the 1,500-release app %d times, want once", n)
	}
	// Another writer (a second registry, or another replica) changes the
	// app: the next registration sees it.
	other := registry.New(s, registry.Options{})
	must(other.Register(ctx, "ci", rel("big", "elsewhere", 700000)))(t)
	if _, err := reg.Register(ctx, "ci", rel("big", "elsewhere", 700001)); !errors.Is(err, registry.ErrExists) {
		t.Fatalf("a name registered by another writer: %v, want ErrExists", err)
	}
	if _, err := reg.Register(ctx, "ci", rel("big", "same-identity", 700000)); !errors.Is(err, registry.ErrDuplicateIdentity) {
		t.Fatalf("an identity registered by another writer: %v, want ErrDuplicateIdentity", err)
	}
}
