package collateral

import (
	"context"
	"errors"
	"sync"
	"time"
)

// DefaultFetchTimeout bounds one upstream fetch made by a Cache when
// CacheOptions.FetchTimeout is zero.
const DefaultFetchTimeout = 2 * time.Minute

// CacheOptions configures a Cache. The zero value is a cache that keeps each
// set until its earliest nextUpdate, never serves stale collateral, and uses
// the wall clock.
type CacheOptions struct {
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
	// MaxAge caps how long a set is served, even before its nextUpdate (Intel may
	// publish new TCB Info before nextUpdate after a TCB recovery). Zero: no cap.
	MaxAge time.Duration
	// ServeStaleOnError makes Get return the last good set for a request, even
	// though its nextUpdate has passed, when refreshing it fails. The verifier
	// still sees the old nextUpdate and decides whether to accept it. False:
	// the refresh error is returned.
	ServeStaleOnError bool
	// FetchTimeout bounds one upstream fetch. The fetch is shared by all callers
	// waiting for the same request, so it does not stop when one of them gives
	// up. Zero: DefaultFetchTimeout.
	FetchTimeout time.Duration
}

// Cache is a Source that keeps the collateral got from another Source until its
// earliest nextUpdate (TCB Info, QE Identity, PCK CRL, Root CA CRL). It is safe
// for concurrent use: callers asking for the same request while it is being
// fetched wait for that one fetch. Failed fetches are not cached; the next Get
// tries again. A set that cannot be summarised (see Summarize) or is already
// out of date is returned but not kept. Entries are never evicted, so the
// cache grows with the number of distinct platforms (FMSPCs) seen.
type Cache struct {
	src  Source
	opts CacheOptions

	mu      sync.Mutex
	entries map[Request]*cacheEntry
	calls   map[Request]*cacheCall
}

type cacheEntry struct {
	c       *Collateral
	expires time.Time
}

type cacheCall struct {
	done chan struct{}
	c    *Collateral
	err  error
}

// NewCache returns a Cache in front of src. opts is copied.
func NewCache(src Source, opts CacheOptions) *Cache {
	return &Cache{
		src:     src,
		opts:    opts,
		entries: map[Request]*cacheEntry{},
		calls:   map[Request]*cacheCall{},
	}
}

func (c *Cache) now() time.Time {
	if c.opts.Now != nil {
		return c.opts.Now()
	}
	return time.Now()
}

// Get returns a copy of the cached set for req while it is fresh, and otherwise
// fetches it from the underlying source (once, however many callers ask). If ctx
// ends first, Get returns an error wrapping ErrUnavailable and ctx.Err().
func (c *Cache) Get(ctx context.Context, req Request) (*Collateral, error) {
	key, err := req.Normalize()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if e, ok := c.entries[key]; ok && c.now().Before(e.expires) {
		c.mu.Unlock()
		return cloneCollateral(e.c), nil
	}
	call, ok := c.calls[key]
	if !ok {
		call = &cacheCall{done: make(chan struct{})}
		c.calls[key] = call
		go c.fetch(context.WithoutCancel(ctx), key, call)
	}
	c.mu.Unlock()

	select {
	case <-call.done:
	case <-ctx.Done():
		return nil, &FetchError{Field: "cache", Kind: ErrUnavailable, Err: ctx.Err()}
	}
	if call.err != nil {
		if c.opts.ServeStaleOnError {
			c.mu.Lock()
			e, ok := c.entries[key]
			c.mu.Unlock()
			if ok {
				return cloneCollateral(e.c), nil
			}
		}
		return nil, call.err
	}
	return cloneCollateral(call.c), nil
}

// Fresh returns how many cached sets are still valid (before their earliest
// nextUpdate, capped by MaxAge) at the cache's clock: sets that Get serves
// without asking the source.
func (c *Cache) Fresh() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	now, n := c.now(), 0
	for _, e := range c.entries {
		if now.Before(e.expires) {
			n++
		}
	}
	return n
}

// fetch runs one upstream request for key and publishes the result to the
// callers waiting on call.
func (c *Cache) fetch(ctx context.Context, key Request, call *cacheCall) {
	timeout := c.opts.FetchTimeout
	if timeout <= 0 {
		timeout = DefaultFetchTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	got, err := c.src.Get(ctx, key)

	if err == nil && got == nil {
		err = &FetchError{Field: "cache", Kind: ErrUnavailable, Err: errors.New("source returned no collateral and no error")}
	}
	if err == nil {
		got = cloneCollateral(got) // the source may keep and alter its copy
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	// Publish only after the entry is stored, so a caller that has its answer
	// also finds it in the cache.
	defer close(call.done)
	delete(c.calls, key)
	call.c, call.err = got, err
	if err != nil {
		return
	}
	s, serr := Summarize(got)
	if serr != nil {
		return
	}
	now := c.now()
	expires := s.NextUpdate
	if c.opts.MaxAge > 0 && now.Add(c.opts.MaxAge).Before(expires) {
		expires = now.Add(c.opts.MaxAge)
	}
	if now.Before(expires) {
		c.entries[key] = &cacheEntry{c: got, expires: expires}
	}
}
