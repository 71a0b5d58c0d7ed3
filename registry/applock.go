package registry

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// DefaultLockWait is Options.LockWait when zero.
const DefaultLockWait = 10 * time.Second

// keyLocks serializes the writes of this process to one app (or one policy
// type, the certificate set): concurrent writers wait in turn instead of
// conflicting in the store and retrying. Other processes sharing the store
// still conflict, and those conflicts are retried as before.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{} // holds a token while locked
	refs int           // holders and waiters
}

// lock waits up to wait for key; it returns the unlock function, or ErrBusy
// when the wait is over (or ctx's error when ctx ends first).
func (l *keyLocks) lock(ctx context.Context, key string, wait time.Duration) (func(), error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*keyLock{}
	}
	k := l.m[key]
	if k == nil {
		k = &keyLock{ch: make(chan struct{}, 1)}
		l.m[key] = k
	}
	k.refs++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		if k.refs--; k.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
	select {
	case k.ch <- struct{}{}:
		return func() { <-k.ch; release() }, nil
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case k.ch <- struct{}{}:
		return func() { <-k.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	case <-t.C:
		release()
		return nil, fmt.Errorf("%w: waited %s for other updates of %s", ErrBusy, wait, key)
	}
}
