package attestd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/store"
)

// fillAudit appends n audit entries to st in batches.
func fillAudit(t testing.TB, st store.Store, n int) {
	t.Helper()
	now := time.Now()
	for done := 0; done < n; {
		var ch store.Change
		for i := 0; i < 1000 && done < n; i++ {
			ch.Audit = append(ch.Audit, audit.Record{Time: now, Actor: "filler", Action: audit.ActionRegister,
				App: "shop", Release: fmt.Sprintf("r%06d", done), Details: map[string]string{"mrenclave": strings.Repeat("ab", 32)}})
			done++
		}
		if _, err := st.Commit(context.Background(), ch); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuditPaging(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	fillAudit(t, e.st, 2500)
	page := func(q string) (auditPage, http.Header) {
		t.Helper()
		resp := mustStatus(t, e.do("GET", "/admin/v1/audit"+q, "", nil), 200)
		var p auditPage
		if err := json.Unmarshal(resp.body, &p); err != nil {
			t.Fatalf("%s: %v: %s", q, err, resp.body)
		}
		return p, resp.header
	}
	for _, tc := range []struct {
		q        string
		first, n int
		next     uint64 // 0: none
		link     string
	}{
		{"", 1, DefaultAuditPageSize, 100, `</admin/v1/audit?after=100&limit=100>; rel="next"`},
		{"?limit=0", 1, DefaultAuditPageSize, 100, `</admin/v1/audit?after=100&limit=100>; rel="next"`},
		{"?after=2400", 2401, 100, 0, ""},
		{"?after=2450", 2451, 50, 0, ""},
		{"?after=10&limit=5", 11, 5, 15, `</admin/v1/audit?after=15&limit=5>; rel="next"`},
		{"?limit=100000", 1, MaxAuditPageSize, 1000, `</admin/v1/audit?after=1000&limit=1000>; rel="next"`},
		{"?after=2500", 0, 0, 0, ""},
		{"?after=9999", 0, 0, 0, ""},
	} {
		p, h := page(tc.q)
		if len(p.Entries) != tc.n || p.Head.Seq != 2500 {
			t.Errorf("%s: %d entries, head %d; want %d, 2500", tc.q, len(p.Entries), p.Head.Seq, tc.n)
			continue
		}
		for i, en := range p.Entries {
			if en.Seq != uint64(tc.first+i) {
				t.Fatalf("%s: entry %d has seq %d", tc.q, i, en.Seq)
			}
		}
		var next uint64
		if p.Next != nil {
			next = *p.Next
		}
		if next != tc.next || h.Get("Link") != tc.link {
			t.Errorf("%s: next %d, Link %q; want %d, %q", tc.q, next, h.Get("Link"), tc.next, tc.link)
		}
	}
	// Following the cursor reads the whole log once, and the chain verifies.
	var all []audit.Entry
	q := "?limit=1000"
	for {
		p, _ := page(q)
		all = append(all, p.Entries...)
		if p.Next == nil {
			break
		}
		q = fmt.Sprintf("?after=%d&limit=1000", *p.Next)
	}
	if len(all) != 2500 {
		t.Fatalf("followed the cursor to %d entries, want 2500", len(all))
	}
	if err := audit.Verify(all); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"?after=-1", "?limit=-1", "?limit=x"} {
		mustStatus(t, e.do("GET", "/admin/v1/audit"+q, "", nil), 400)
	}
}

// TestAuditReadsBoundedMemory is the reproduction of issue 13's first defect:
// 50 concurrent anonymous reads of a 16,000-entry log without limit. Each
// answer must be one page, and the heap must not grow with the log.
func TestAuditReadsBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a 16,000-entry log")
	}
	e := newTestEnv(t, envOpts{})
	fillAudit(t, e.st, 16000)
	const readers = 50
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	sizes := make([]int, readers)
	errs := make([]error, readers)
	for i := range readers {
		wg.Go(func() {
			resp, err := e.client.Get(e.url + "/admin/v1/audit")
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			var p auditPage
			if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
				errs[i] = err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			sizes[i] = len(p.Entries)
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	growth := int64(peak.Load()) - int64(before.HeapAlloc)
	t.Logf("heap: %d MiB before, peak growth %.1f MiB with %d concurrent readers", before.HeapAlloc>>20, float64(growth)/(1<<20), readers)
	// One page is about 50 KiB of JSON; 50 of them, their decoded copies in
	// this test and the transport's buffers stay far below this bound. The
	// whole log in each answer grew the heap by 1.35 GiB (measured).
	const bound = 64 << 20
	if growth > bound {
		t.Fatalf("heap grew by %d MiB under %d concurrent audit reads, want < %d MiB", growth>>20, readers, bound>>20)
	}
	for i := range readers {
		if errs[i] != nil || sizes[i] != DefaultAuditPageSize {
			t.Fatalf("reader %d: %d entries, %v", i, sizes[i], errs[i])
		}
	}
}
