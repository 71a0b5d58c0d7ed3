package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/storetest"
)

// benchStore writes a bbolt store whose log has 5 entries per release, the
// way the registry writes them (register, activate, drain, retire, revoke;
// 100 releases per commit, so 1,000 synced commits for 100k entries).
func benchStore(b *testing.B, entries int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "sgxops.db")
	s, err := store.OpenBolt(path, store.BoltOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const batch = 100
	releases := entries / 5
	now := st0
	steps := []struct {
		action audit.Action
		next   func(release.Release) (release.Release, error)
	}{
		{audit.ActionRegister, nil},
		{audit.ActionActivate, func(r release.Release) (release.Release, error) {
			a, _, err := release.Activate(r, nil, now, time.Hour)
			return a, err
		}},
		{audit.ActionDrain, func(r release.Release) (release.Release, error) { return r.Drain(now, time.Hour) }},
		{audit.ActionRetire, func(r release.Release) (release.Release, error) { return r.Retire(now) }},
		{audit.ActionRevoke, func(r release.Release) (release.Release, error) { return r.Revoke(now, "benchmark") }},
	}
	for first := 0; first < releases; first += batch {
		cur := make([]store.ReleaseRecord, 0, batch)
		for i := first; i < min(first+batch, releases); i++ {
			app := fmt.Sprintf("app-%03d", i%100)
			cur = append(cur, store.ReleaseRecord{Release: storetest.Candidate(b, app, fmt.Sprintf("r%06d", i), i)})
		}
		for _, step := range steps {
			var ch store.Change
			for i, rec := range cur {
				r := rec.Release
				if step.next != nil {
					if r, err = step.next(r); err != nil {
						b.Fatal(err)
					}
				}
				cur[i].Release = r
				ch.Releases = append(ch.Releases, store.ReleasePut{Release: r, ExpectRevision: rec.Revision})
				ch.Audit = append(ch.Audit, audit.Record{Time: now, Actor: "bench", Action: step.action, App: r.App, Release: r.Name,
					Details: map[string]string{"mrenclave": r.MREnclave}})
			}
			c, err := s.Commit(ctx, ch)
			if err != nil {
				b.Fatal(err)
			}
			for i := range cur {
				cur[i].Revision = c.Revision
			}
		}
	}
	return path
}

// BenchmarkVerifyState measures the state check on a 100k-entry bbolt store
// against reading the log once and verifying its chain. Each sub-benchmark
// reports ns/entry; compare them within one run.
func BenchmarkVerifyState(b *testing.B) {
	const entries = 100_000
	path := benchStore(b, entries)
	s, err := store.OpenBolt(path, store.BoltOptions{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	perEntry := func(b *testing.B, n int) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n)/float64(entries), "ns/entry")
	}
	b.Run("read-log", func(b *testing.B) {
		n := 0
		for b.Loop() {
			var after uint64
			for {
				es, err := s.ListAudit(ctx, after, 1024)
				if err != nil {
					b.Fatal(err)
				}
				if len(es) == 0 {
					break
				}
				after = es[len(es)-1].Seq
			}
			if after != entries {
				b.Fatalf("read %d entries", after)
			}
			n++
		}
		perEntry(b, n)
	})
	b.Run("verify-log", func(b *testing.B) {
		n := 0
		for b.Loop() {
			if st, err := store.VerifyLog(ctx, s); err != nil || st.Entries != entries {
				b.Fatal(st, err)
			}
			n++
		}
		perEntry(b, n)
	})
	b.Run("verify-state", func(b *testing.B) {
		n := 0
		for b.Loop() {
			st, err := store.VerifyState(ctx, s)
			if err != nil || st.Entries != entries || st.Releases != entries/5 {
				b.Fatal(st, err)
			}
			n++
		}
		perEntry(b, n)
	})
}
