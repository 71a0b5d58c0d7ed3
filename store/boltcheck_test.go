package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/audit"

	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/storetest"
)

// TestDamagedBoltFile is the reproduction of issue 13's second defect: a
// child page id beyond the file in a branch page made the first audit read
// segfault. Opening (checked) must refuse the file with ErrCorrupt naming
// it; opened without the check, every read is an error, never a crash.
func TestDamagedBoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.DefaultBoltFile)
	pg := storetest.DamagedBolt(t, path, 3000)
	t.Logf("flipped a child page id in branch page %d", pg)
	for _, ro := range []bool{false, true} {
		_, err := store.OpenBolt(path, store.BoltOptions{ReadOnly: ro})
		if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Fatalf("OpenBolt(read-only %v) = %v, want ErrCorrupt naming %s", ro, err, path)
		}
		t.Logf("read-only %v: %v", ro, err)
	}
	s, err := store.OpenBolt(path, store.BoltOptions{ReadOnly: true, SkipCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.ListAudit(context.Background(), 0, 0)
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("ListAudit = %v, want ErrCorrupt naming %s", err, path)
	}
	if err := s.Check(); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("Check = %v, want ErrCorrupt", err)
	}
}

// BenchmarkBoltCheck measures Check (run by OpenBolt) at realistic sizes.
func BenchmarkBoltCheck(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), store.DefaultBoltFile)
			s, err := store.OpenBolt(path, store.BoltOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			fillBolt(b, s, n)
			b.ResetTimer()
			for b.Loop() {
				if err := s.Check(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n), "entries")
		})
	}
}

// fillBolt writes n audit entries and a release for every tenth of them, in
// commits of 500 entries (a registration is a release and its entry).
func fillBolt(b *testing.B, s store.Store, n int) {
	for done := 0; done < n; {
		var ch store.Change
		for i := 0; i < 500 && done < n; i, done = i+1, done+1 {
			name := fmt.Sprintf("r%06d", done)
			if done%10 == 0 {
				ch.Releases = append(ch.Releases, store.ReleasePut{Release: storetest.Candidate(b, fmt.Sprintf("app%03d", done%100), name, done)})
			}
			ch.Audit = append(ch.Audit, audit.Record{Time: time.Now(), Actor: "bench", Action: audit.ActionRegister,
				App: "shop", Release: name, Details: map[string]string{"mrenclave": storetest.Measurement(done)}})
		}
		if _, err := s.Commit(context.Background(), ch); err != nil {
			b.Fatal(err)
		}
	}
}
