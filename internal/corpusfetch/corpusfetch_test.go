package corpusfetch_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/internal/corpus"
	"github.com/sgxops/sgxops/internal/corpusfetch"
	"github.com/sgxops/sgxops/internal/corpusfetch/manifest"
)

// solSource stands in for the Solidity test file the platform CRL is extracted
// from (it is not part of the corpus, so only its extraction is tested here).
func solSource(t *testing.T, dir string) []byte {
	crl, err := os.ReadFile(filepath.Join(dir, "automata/evm-0625-extracted/platformCrlDer_from_AutomataDcapOnChainAttestationTest.der"))
	if err != nil {
		t.Fatal(err)
	}
	return []byte("contract T {\n    bytes constant platformCrlDer =\n        hex\"" + hex.EncodeToString(crl) + "\";\n}\n")
}

// TestManifestPinsCorpus: every pinned file is in the corpus with the pinned
// SHA-256, every corpus file is pinned, and every origin is well-formed.
func TestManifestPinsCorpus(t *testing.T) {
	dir := corpus.Dir(t)
	m, err := manifest.Load()
	if err != nil {
		t.Fatal(err)
	}
	pinned := map[string]string{}
	add := func(p, sum string) {
		if _, dup := pinned[p]; dup {
			t.Errorf("%s pinned twice", p)
		}
		pinned[p] = sum
	}
	commit := regexp.MustCompile(`^[0-9a-f]{40}$`)
	repo := regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	for _, f := range m.Files {
		if !commit.MatchString(f.Commit) || !repo.MatchString(f.Repo) || f.OriginPath == "" {
			t.Errorf("%s: bad origin %s@%s:%s", f.Path, f.Repo, f.Commit, f.OriginPath)
		}
		add(f.Path, f.SHA256)
	}
	for _, d := range m.Derived {
		add(d.Path, d.SHA256)
	}
	for _, p := range m.Index {
		// The curated index is only in a corpus that has one (make corpus
		// leaves it out): pinned when present.
		if _, err := os.Stat(filepath.Join(dir, p.Path)); err == nil {
			add(p.Path, p.SHA256)
		}
	}
	for p, sum := range pinned {
		if err := corpusfetch.CheckFile(filepath.Join(dir, p), sum); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	n := 0
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		n++
		rel, _ := filepath.Rel(dir, p)
		if _, ok := pinned[filepath.ToSlash(rel)]; !ok {
			t.Errorf("corpus file %s is not in the manifest", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(pinned) || len(m.Files) < 100 {
		t.Errorf("%d corpus files, %d pinned (%d verbatim)", n, len(pinned), len(m.Files))
	}
}

// TestBuildMatchesCorpus rebuilds every derived file from the shared corpus and
// compares it byte for byte with the corpus's own copy.
func TestBuildMatchesCorpus(t *testing.T) {
	dir := corpus.Dir(t)
	m, err := manifest.Load()
	if err != nil {
		t.Fatal(err)
	}
	input := func(string) ([]byte, error) { return solSource(t, dir), nil }
	for _, d := range m.Derived {
		t.Run(d.Path, func(t *testing.T) {
			got, err := corpusfetch.Build(dir, d, input)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, d.Path))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("rebuilt %d bytes differ from the corpus's %d", len(got), len(want))
			}
		})
	}
}

// originServer serves the shared corpus's files at their origin URLs
// (/owner/name/commit/path), as the public origin would.
func originServer(t *testing.T, dir string, m *manifest.Manifest) *httptest.Server {
	byURL := map[string]string{}
	for _, f := range m.Files {
		byURL["/"+f.Repo+"/"+f.Commit+"/"+f.OriginPath] = filepath.Join(dir, f.Path)
	}
	var inputs []string
	for _, in := range m.Inputs {
		inputs = append(inputs, "/"+in.Repo+"/"+in.Commit+"/"+in.OriginPath)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, in := range inputs {
			if r.URL.Path == in {
				w.Write(solSource(t, dir))
				return
			}
		}
		p, ok := byURL[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, p)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestRunFromOrigins fills an empty cache from a loopback stand-in for the
// origins, then runs again with nothing to download.
func TestRunFromOrigins(t *testing.T) {
	dir := corpus.Dir(t)
	m, err := manifest.Load()
	if err != nil {
		t.Fatal(err)
	}
	srv := originServer(t, dir, m)
	// The stand-in serves a Solidity source holding the same constant, not the
	// origin's file (which is not a corpus file): with the real pin it is refused,
	// then the test re-pins the input to what the stand-in serves.
	_, err = corpusfetch.Run(context.Background(), m, corpusfetch.Options{Dir: t.TempDir(), BaseURL: srv.URL})
	if !errors.Is(err, corpusfetch.ErrDigest) || !strings.Contains(err.Error(), m.Inputs[0].OriginPath) {
		t.Fatalf("input with other bytes than pinned: %v", err)
	}
	sum := sha256.Sum256(solSource(t, dir))
	for i := range m.Inputs {
		m.Inputs[i].SHA256 = hex.EncodeToString(sum[:])
	}
	cache := t.TempDir()
	// Without an existing corpus to copy the curated index from, the run is
	// complete all the same: the index is reported as left out, not as an error.
	rep, err := corpusfetch.Run(context.Background(), m, corpusfetch.Options{Dir: cache, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Downloaded != len(m.Files) || rep.Rebuilt != len(m.Derived) || len(rep.MissingIndex) != len(m.Index) {
		t.Fatalf("report %+v", rep)
	}
	for _, c := range corpus.QuoteCases {
		for _, p := range []string{c.Quote, c.Collateral} {
			if _, err := os.Stat(filepath.Join(cache, p)); err != nil {
				t.Errorf("case %s: %v", c.ID, err)
			}
		}
	}
	// Everything is cached now: a second run needs no origin.
	rep, err = corpusfetch.Run(context.Background(), m, corpusfetch.Options{Dir: cache, BaseURL: srv.URL + "/gone"})
	if err != nil || rep.Downloaded != 0 || rep.Rebuilt != 0 || rep.Cached != len(m.Files)+len(m.Derived) {
		t.Fatalf("second run: %+v, %v", rep, err)
	}
	// Asked to copy the index from a directory without one, it says which file.
	_, err = corpusfetch.Run(context.Background(), m, corpusfetch.Options{Dir: cache, BaseURL: srv.URL + "/gone", IndexFrom: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), m.Index[0].Path) {
		t.Fatalf("index from an empty directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, m.Index[0].Path)); err != nil {
		t.Logf("the corpus at %s has no curated index (built by make corpus): copying it is not tested", dir)
		return
	}
	rep, err = corpusfetch.Run(context.Background(), m, corpusfetch.Options{Dir: cache, BaseURL: srv.URL + "/gone", IndexFrom: dir})
	if err != nil || rep.Downloaded != 0 || rep.Rebuilt != 0 || len(rep.MissingIndex) != 0 {
		t.Fatalf("run with the index: %+v, %v", rep, err)
	}
	for _, p := range m.Index {
		if err := corpusfetch.CheckFile(filepath.Join(cache, p.Path), p.SHA256); err != nil {
			t.Errorf("index file not copied: %v", err)
		}
	}
}

func TestRunFailures(t *testing.T) {
	m, err := manifest.Load()
	if err != nil {
		t.Fatal(err)
	}
	first := m.Files[0]
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	wrong := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("not the file")) }))
	defer wrong.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()

	tests := []struct {
		name, base string
		want       []string
		digest     bool
	}{
		{"404", notFound.URL, []string{manifest.URL(notFound.URL, first.Repo, first.Commit, first.OriginPath), "404"}, false},
		{"refused", refused, []string{manifest.URL(refused, first.Repo, first.Commit, first.OriginPath), "refused"}, false},
		{"wrong bytes", wrong.URL, []string{first.Path, "SHA-256"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			_, err := corpusfetch.Run(context.Background(), m, corpusfetch.Options{Dir: cache, BaseURL: tc.base})
			if err == nil {
				t.Fatal("no error")
			}
			var fe *corpusfetch.FetchError
			if tc.digest != errors.Is(err, corpusfetch.ErrDigest) || !tc.digest && !errors.As(err, &fe) {
				t.Fatalf("error %T %v", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not name %q", err, w)
				}
			}
			if ents, _ := os.ReadDir(cache); len(ents) != 0 {
				t.Errorf("left %d entries in the cache", len(ents))
			}
		})
	}
}

// TestSNPReportFromJSONRefuses: the SEV-SNP report recipe names the field it
// cannot lay out instead of writing a report with a hole in it.
func TestSNPReportFromJSONRefuses(t *testing.T) {
	dir := corpus.Dir(t)
	var d manifest.Derived
	m, err := manifest.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range m.Derived {
		if x.Path == "sev-snp/derived/trustee-e2e-report.bin" {
			d = x
		}
	}
	if d.Path == "" {
		t.Fatal("no recipe for sev-snp/derived/trustee-e2e-report.bin")
	}
	orig, err := os.ReadFile(filepath.Join(dir, d.Steps[0].File))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, want string
		edit       func(r map[string]any)
	}{
		{"short measurement", "measurement", func(r map[string]any) { r["measurement"] = r["measurement"].([]any)[1:] }},
		{"not a byte", "report_data", func(r map[string]any) { r["report_data"].([]any)[3] = 256.0 }},
		{"missing policy", "policy", func(r map[string]any) { delete(r, "policy") }},
		{"Turin TCB", "fmc", func(r map[string]any) { r["reported_tcb"].(map[string]any)["fmc"] = 1.0 }},
		{"no signature", "signature", func(r map[string]any) { delete(r, "signature") }},
		{"short signature", "signature/s", func(r map[string]any) {
			s := r["signature"].(map[string]any)
			s["s"] = s["s"].([]any)[:71]
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v map[string]any
			if err := json.Unmarshal(orig, &v); err != nil {
				t.Fatal(err)
			}
			tc.edit(v["attestation_report"].(map[string]any))
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			tmp := t.TempDir()
			p := filepath.Join(tmp, filepath.FromSlash(d.Steps[0].File))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := corpusfetch.Build(tmp, d, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %d bytes, %v; want an error naming %q", len(out), err, tc.want)
			}
		})
	}
}
