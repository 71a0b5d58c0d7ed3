package registry_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sgxops/sgxops/registry"
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
	var fresh, big float64
	i := 0
	for b.Loop() {
		const n = 50
		fresh += rate(fmt.Sprintf("fresh%d", i), 2*i*n, n)
		big += rate("big", (2*i+1)*n, n)
		i++
	}
	b.ReportMetric(fresh/float64(i), "reg/s-new-app")
	b.ReportMetric(big/float64(i), "reg/s-1500-releases")
	b.ReportMetric(big/fresh, "ratio")
}
