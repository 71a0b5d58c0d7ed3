package collateral_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/collateral/pcstest"
)

// clock is a settable clock safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// cachedPhalaSGX serves the Phala SGX bundle over PCS and puts a cache in front.
// Its earliest nextUpdate is the QE Identity's, 2025-07-19T10:01:18Z.
func cachedPhalaSGX(t *testing.T, opts collateral.CacheOptions) (*servedSet, *collateral.Cache, time.Time) {
	t.Helper()
	s := serveBundle(t, "phala-dcap-qvl/sgx_quote_collateral.json", "sgx", "00a067110000", "processor")
	sum, err := collateral.Summarize(s.want)
	if err != nil {
		t.Fatal(err)
	}
	return s, collateral.NewCache(&collateral.PCS{BaseURL: s.srv.URL}, opts), sum.NextUpdate
}

func (s *servedSet) tcbHits() int { return s.srv.Hits(s.paths.TCBInfo) }

func TestCacheOneFetchForConcurrentCallers(t *testing.T) {
	clk := &clock{}
	s, cache, next := cachedPhalaSGX(t, collateral.CacheOptions{Now: clk.Now})
	clk.Set(next.Add(-time.Hour))
	// Hold the first response back so that every caller arrives during the fetch.
	route, _ := s.srv.Route(s.paths.TCBInfo)
	route.Delay = 300 * time.Millisecond
	s.srv.Set(s.paths.TCBInfo, route)

	const n = 32
	var wg sync.WaitGroup
	results := make([]*collateral.Collateral, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Mixed spellings of the same request share one key.
			req := s.req
			if i%2 == 1 {
				req.FMSPC, req.TEE = "00A067110000", "SGX"
			}
			results[i], errs[i] = cache.Get(context.Background(), req)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		sameCollateral(t, results[i], s.want)
	}
	if got := s.srv.TotalHits(); got != 4 {
		t.Errorf("%d upstream requests for %d callers, want 4 (one fetch)", got, n)
	}
	// Callers get their own copies.
	results[0].TCBInfo[0] = 'X'
	again, err := cache.Get(context.Background(), s.req)
	if err != nil || again.TCBInfo[0] != '{' {
		t.Errorf("a caller's edit reached the cache (%v)", err)
	}
	if got := s.srv.TotalHits(); got != 4 {
		t.Errorf("fresh entry re-fetched: %d requests", got)
	}
}

func TestCacheRefreshesAtNextUpdate(t *testing.T) {
	clk := &clock{}
	s, cache, next := cachedPhalaSGX(t, collateral.CacheOptions{Now: clk.Now})
	steps := []struct {
		at   time.Time
		hits int
	}{
		{next.Add(-24 * time.Hour), 1},
		{next.Add(-time.Second), 1}, // still fresh
		{next, 2},                   // nextUpdate reached: fetched again, but the set is out of date...
		{next.Add(time.Minute), 3},  // ...so it is not kept
	}
	for _, st := range steps {
		clk.Set(st.at)
		if _, err := cache.Get(context.Background(), s.req); err != nil {
			t.Fatal(err)
		}
		if got := s.tcbHits(); got != st.hits {
			t.Errorf("at %v: %d fetches, want %d", st.at, got, st.hits)
		}
	}
}

func TestCacheMaxAge(t *testing.T) {
	clk := &clock{}
	s, cache, next := cachedPhalaSGX(t, collateral.CacheOptions{Now: clk.Now, MaxAge: time.Hour})
	start := next.Add(-10 * 24 * time.Hour)
	for _, st := range []struct {
		at   time.Duration
		hits int
	}{{0, 1}, {59 * time.Minute, 1}, {61 * time.Minute, 2}, {90 * time.Minute, 2}} {
		clk.Set(start.Add(st.at))
		if _, err := cache.Get(context.Background(), s.req); err != nil {
			t.Fatal(err)
		}
		if got := s.tcbHits(); got != st.hits {
			t.Errorf("after %v: %d fetches, want %d", st.at, got, st.hits)
		}
	}
}

func TestCacheDoesNotKeepFailures(t *testing.T) {
	clk := &clock{}
	s, cache, next := cachedPhalaSGX(t, collateral.CacheOptions{Now: clk.Now})
	clk.Set(next.Add(-time.Hour))
	good, _ := s.srv.Route(s.paths.QEIdentity)
	s.srv.Set(s.paths.QEIdentity, pcstest.Response{Status: 500})
	if _, err := cache.Get(context.Background(), s.req); !errors.Is(err, collateral.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	s.srv.Set(s.paths.QEIdentity, good)
	got, err := cache.Get(context.Background(), s.req)
	if err != nil {
		t.Fatalf("after the upstream recovered: %v", err)
	}
	sameCollateral(t, got, s.want)
	if h := s.tcbHits(); h != 2 {
		t.Errorf("%d fetches, want 2", h)
	}
}

func TestCacheServeStaleOnError(t *testing.T) {
	for _, stale := range []bool{false, true} {
		clk := &clock{}
		s, cache, next := cachedPhalaSGX(t, collateral.CacheOptions{Now: clk.Now, ServeStaleOnError: stale})
		clk.Set(next.Add(-time.Hour))
		if _, err := cache.Get(context.Background(), s.req); err != nil {
			t.Fatal(err)
		}
		s.srv.Set(s.paths.TCBInfo, pcstest.Response{Status: 503})
		clk.Set(next.Add(time.Hour))
		got, err := cache.Get(context.Background(), s.req)
		if stale {
			if err != nil {
				t.Fatalf("ServeStaleOnError: %v", err)
			}
			sameCollateral(t, got, s.want)
		} else if !errors.Is(err, collateral.ErrUnavailable) || got != nil {
			t.Errorf("default: got %v, %v; want ErrUnavailable", got != nil, err)
		}
		if h := s.tcbHits(); h != 2 {
			t.Errorf("stale=%v: %d fetches, want 2", stale, h)
		}
	}
}

func TestCacheCallerDeadline(t *testing.T) {
	clk := &clock{}
	s, cache, next := cachedPhalaSGX(t, collateral.CacheOptions{Now: clk.Now})
	clk.Set(next.Add(-time.Hour))
	route, _ := s.srv.Route(s.paths.TCBInfo)
	route.Delay = 400 * time.Millisecond
	s.srv.Set(s.paths.TCBInfo, route)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := cache.Get(ctx, s.req); !errors.Is(err, collateral.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	// The shared fetch went on without the impatient caller; a patient one gets it.
	got, err := cache.Get(context.Background(), s.req)
	if err != nil {
		t.Fatal(err)
	}
	sameCollateral(t, got, s.want)
	if h := s.tcbHits(); h != 1 {
		t.Errorf("%d fetches, want 1", h)
	}
}

func TestCacheFetchTimeout(t *testing.T) {
	clk := &clock{}
	s, cache, next := cachedPhalaSGX(t, collateral.CacheOptions{Now: clk.Now, FetchTimeout: 100 * time.Millisecond})
	clk.Set(next.Add(-time.Hour))
	route, _ := s.srv.Route(s.paths.TCBInfo)
	route.Delay = 10 * time.Second
	s.srv.Set(s.paths.TCBInfo, route)
	start := time.Now()
	if _, err := cache.Get(context.Background(), s.req); !errors.Is(err, collateral.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("FetchTimeout not applied: %v", d)
	}
}

// nilSource misbehaves: no collateral and no error.
type nilSource struct{}

func (nilSource) Get(context.Context, collateral.Request) (*collateral.Collateral, error) {
	return nil, nil
}

func TestCacheInvalidRequestAndBadSource(t *testing.T) {
	cache := collateral.NewCache(nilSource{}, collateral.CacheOptions{})
	if _, err := cache.Get(context.Background(), collateral.Request{TEE: "sgx"}); !errors.As(err, new(*collateral.RequestError)) {
		t.Errorf("invalid request: %v", err)
	}
	if _, err := cache.Get(context.Background(), collateral.Request{TEE: "sgx", FMSPC: "00a067110000", PCKCA: "processor"}); !errors.Is(err, collateral.ErrUnavailable) {
		t.Errorf("nil collateral from the source: %v", err)
	}
}

func TestCacheFresh(t *testing.T) {
	clk := &clock{}
	s, cache, next := cachedPhalaSGX(t, collateral.CacheOptions{Now: clk.Now})
	clk.Set(next.Add(-time.Hour))
	if n := cache.Fresh(); n != 0 {
		t.Fatalf("empty cache: %d fresh", n)
	}
	if _, err := cache.Get(context.Background(), s.req); err != nil {
		t.Fatal(err)
	}
	if n := cache.Fresh(); n != 1 {
		t.Fatalf("after a fetch: %d fresh, want 1", n)
	}
	clk.Set(next)
	if n := cache.Fresh(); n != 0 {
		t.Fatalf("at nextUpdate: %d fresh, want 0", n)
	}
}
