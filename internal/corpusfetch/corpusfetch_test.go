package corpusfetch_test

import (
	"context"
	"encoding/hex"
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

// TestManifestPinsCorpus: every pinned file is in the shared corpus with the
// pinned SHA-256, every corpus file is pinned, and every origin is well-formed.
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
	for _, p := range append(append([]manifest.Pinned{}, m.NotRebuilt...), m.Index...) {
		add(p.Path, p.SHA256)
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
	cache := t.TempDir()
	rep, err := corpusfetch.Run(context.Background(), m, corpusfetch.Options{Dir: cache, BaseURL: srv.URL, IndexFrom: dir})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Downloaded != len(m.Files) || rep.Rebuilt != len(m.Derived) || len(rep.MissingIndex) != 0 {
		t.Fatalf("report %+v", rep)
	}
	if len(rep.NotRebuilt) != len(m.NotRebuilt) {
		t.Errorf("not rebuilt %v, want the %d without a recipe", rep.NotRebuilt, len(m.NotRebuilt))
	}
	rep, err = corpusfetch.Run(context.Background(), m, corpusfetch.Options{Dir: cache, BaseURL: srv.URL + "/gone"})
	if err != nil || rep.Downloaded != 0 || rep.Rebuilt != 0 {
		t.Fatalf("second run: %+v, %v", rep, err)
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
