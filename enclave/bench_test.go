package enclave

import (
	"bufio"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeBenchSGXS writes a valid SGXS stream of at least n bytes: ECREATE, then
// pages of pseudo-random content, each EADDed and fully EEXTENDed.
func writeBenchSGXS(tb testing.TB, path string, n int64) int64 {
	tb.Helper()
	const perPage = 64 + 16*(64+256)
	pages := (n - 64 + perPage - 1) / perPage
	size := uint64(pageSize)
	for size < uint64(pages)*pageSize {
		size <<= 1
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := &sgxsWriter{w: bw}
	w.ecreate(1, size)
	rng := rand.NewChaCha8([32]byte{1})
	page := make([]byte, pageSize)
	for i := int64(0); i < pages; i++ {
		_, _ = rng.Read(page)
		off := uint64(i) * pageSize
		w.eadd(off, flagsRegRW)
		w.eextendPage(off, page)
	}
	if w.err == nil {
		w.err = bw.Flush()
	}
	if cerr := f.Close(); w.err == nil {
		w.err = cerr
	}
	if w.err != nil {
		tb.Fatal(w.err)
	}
	return 64 + pages*perPage
}

// BenchmarkSGXSvsSha256sum measures a generated 100 MB SGXS stream with
// Measure and hashes the same file with the sha256sum tool in the same run;
// it reports both throughputs and their ratio (measure / sha256sum; the
// target is >= 0.8). Both read the file from the page cache.
func BenchmarkSGXSvsSha256sum(b *testing.B) {
	tool, err := exec.LookPath("sha256sum")
	if err != nil {
		b.Skip("sha256sum not installed")
	}
	path := filepath.Join(b.TempDir(), "bench.sgxs")
	size := writeBenchSGXS(b, path, 100<<20)
	var tTool, tOurs time.Duration
	runTool := func() string {
		start := time.Now()
		out, err := exec.Command(tool, path).Output()
		tTool += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		return strings.Fields(string(out))[0]
	}
	runOurs := func() string {
		start := time.Now()
		m, err := Measure(path)
		tOurs += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		return hex.EncodeToString(m.MREnclave[:])
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var want, got string
		if i%2 == 0 { // alternate the order so neither always runs second
			want, got = runTool(), runOurs()
		} else {
			got, want = runOurs(), runTool()
		}
		if got != want {
			b.Fatalf("MRENCLAVE %s, sha256sum %s", got, want)
		}
	}
	mb := float64(size) * float64(b.N) / 1e6
	b.ReportMetric(mb/tOurs.Seconds(), "measure-MB/s")
	b.ReportMetric(mb/tTool.Seconds(), "sha256sum-MB/s")
	b.ReportMetric(tTool.Seconds()/tOurs.Seconds(), "ratio")
}
