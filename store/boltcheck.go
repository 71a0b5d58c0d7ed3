package store

import (
	"errors"
	"fmt"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// maxCheckErrors bounds the problems one Check reports.
const maxCheckErrors = 5

// Check reads every page of the file reachable from its root and runs
// bbolt's consistency check (page references within the file, each page
// referenced once, no reachable freed page, key order). A damaged file gives
// ErrCorrupt with the file name and the first problems found, never a crash.
// OpenBolt runs it unless BoltOptions.SkipCheck; its cost is in
// docs/performance.md.
func (b *Bolt) Check() error {
	return b.view(func(tx *bolt.Tx) error {
		// bbolt's check reads the file on its own goroutine, where a fault
		// (a page id beyond the file) would crash the process: touch every
		// reachable page here first, under the guard.
		var sink byte
		if err := tx.ForEach(func(_ []byte, bk *bolt.Bucket) error { return walkBucket(bk, &sink) }); err != nil {
			return fmt.Errorf("store: %s is damaged: %w: %w", b.path, ErrCorrupt, err)
		}
		walkSink.Store(uint32(sink))
		var errs []error
		n := 0
		for err := range tx.Check() {
			if n++; n <= maxCheckErrors {
				errs = append(errs, err)
			}
		}
		if n == 0 {
			return nil
		}
		if n > maxCheckErrors {
			errs = append(errs, fmt.Errorf("and %d more", n-maxCheckErrors))
		}
		return fmt.Errorf("store: %s is damaged (bbolt consistency check): %w: %w", b.path, ErrCorrupt, errors.Join(errs...))
	})
}

// walkSink keeps the compiler from dropping walkBucket's reads.
var walkSink atomic.Uint32

// walkBucket reads every key and value of bk and its nested buckets.
func walkBucket(bk *bolt.Bucket, sink *byte) error {
	c := bk.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			if nb := bk.Bucket(k); nb != nil {
				if err := walkBucket(nb, sink); err != nil {
					return err
				}
			}
			continue
		}
		if len(v) > 0 {
			*sink ^= v[0] ^ v[len(v)-1] // a value may end on an overflow page
		}
	}
	return nil
}
