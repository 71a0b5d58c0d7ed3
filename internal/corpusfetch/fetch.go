package corpusfetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/sgxops/sgxops/internal/atomicfile"
	"github.com/sgxops/sgxops/internal/corpusfetch/manifest"
)

// DefaultBaseURL serves a repository's file at a commit as BASE/owner/name/commit/path.
const DefaultBaseURL = "https://raw.githubusercontent.com"

// maxFileSize bounds one download; the largest corpus file is about 2 MiB.
const maxFileSize = 64 << 20

// Options configure Run. The zero value downloads from DefaultBaseURL with a
// 60-second per-request timeout.
type Options struct {
	// Dir is the corpus directory to fill (required).
	Dir string
	// BaseURL replaces DefaultBaseURL (tests point it at a loopback server).
	BaseURL string
	// Client is the HTTP client; nil means one with a 60 s timeout.
	Client *http.Client
	// IndexFrom is an existing corpus to copy the index files from (they have no
	// public origin and no test needs them); empty leaves them out.
	IndexFrom string
}

// Report says what Run did.
type Report struct {
	Downloaded, Cached, Rebuilt int
	// MissingIndex lists the index files left out (see Manifest.Index).
	MissingIndex []string
}

// FetchError names the URL that could not be fetched.
type FetchError struct {
	URL string
	Err error
}

func (e *FetchError) Error() string {
	return fmt.Sprintf("corpusfetch: cannot fetch %s: %v", e.URL, e.Err)
}

func (e *FetchError) Unwrap() error { return e.Err }

// ErrDigest is wrapped when a file's SHA-256 differs from its pin.
var ErrDigest = errors.New("SHA-256 differs from the pinned value")

// Run fills opts.Dir: verbatim files (kept when already present with the pinned
// digest, else downloaded and checked), then derived files rebuilt and checked,
// then index files copied from opts.IndexFrom. It stops at the first error.
func Run(ctx context.Context, m *manifest.Manifest, opts Options) (*Report, error) {
	if opts.Dir == "" {
		return nil, errors.New("corpusfetch: no directory")
	}
	base := opts.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	client := opts.Client
	if client == nil {
		client = &http.Client{Timeout: 60 * time.Second}
	}
	rep := &Report{}
	for _, f := range m.Files {
		dst := filepath.Join(opts.Dir, filepath.FromSlash(f.Path))
		if CheckFile(dst, f.SHA256) == nil {
			rep.Cached++
			continue
		}
		b, err := get(ctx, client, manifest.URL(base, f.Repo, f.Commit, f.OriginPath))
		if err != nil {
			return rep, err
		}
		if err := checkBytes(f.Path, b, f.SHA256); err != nil {
			return rep, err
		}
		if err := writeFile(dst, b); err != nil {
			return rep, err
		}
		rep.Downloaded++
	}
	inputs := map[string][]byte{}
	input := func(name string) ([]byte, error) {
		if b, ok := inputs[name]; ok {
			return b, nil
		}
		for _, in := range m.Inputs {
			if in.Name == name {
				b, err := get(ctx, client, manifest.URL(base, in.Repo, in.Commit, in.OriginPath))
				if err != nil {
					return nil, err
				}
				if err := checkBytes(in.OriginPath, b, in.SHA256); err != nil {
					return nil, err
				}
				inputs[name] = b
				return b, nil
			}
		}
		return nil, fmt.Errorf("no input %q in the manifest", name)
	}
	for _, d := range m.Derived {
		dst := filepath.Join(opts.Dir, filepath.FromSlash(d.Path))
		if CheckFile(dst, d.SHA256) == nil {
			rep.Cached++
			continue
		}
		b, err := Build(opts.Dir, d, input)
		if err != nil {
			return rep, err
		}
		if err := checkBytes(d.Path, b, d.SHA256); err != nil {
			return rep, err
		}
		if err := writeFile(dst, b); err != nil {
			return rep, err
		}
		rep.Rebuilt++
	}
	for _, p := range m.Index {
		dst := filepath.Join(opts.Dir, filepath.FromSlash(p.Path))
		if CheckFile(dst, p.SHA256) == nil {
			continue
		}
		if opts.IndexFrom != "" {
			b, err := os.ReadFile(filepath.Join(opts.IndexFrom, filepath.FromSlash(p.Path)))
			if err == nil {
				err = checkBytes(p.Path, b, p.SHA256)
			}
			if err == nil {
				err = writeFile(dst, b)
			}
			if err != nil {
				return rep, fmt.Errorf("corpusfetch: index file: %w", err)
			}
			continue
		}
		rep.MissingIndex = append(rep.MissingIndex, p.Path)
	}
	return rep, nil
}

// CheckFile returns nil when the file at path has the SHA-256 want (hex).
func CheckFile(path, want string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return checkBytes(path, b, want)
}

func checkBytes(name string, b []byte, want string) error {
	s := sha256.Sum256(b)
	if got := hex.EncodeToString(s[:]); got != want {
		return fmt.Errorf("corpusfetch: %s: %w (got %s, want %s)", name, ErrDigest, got, want)
	}
	return nil
}

func get(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, &FetchError{URL: url, Err: err}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, &FetchError{URL: url, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &FetchError{URL: url, Err: fmt.Errorf("HTTP %s", resp.Status)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxFileSize+1))
	if err == nil && len(b) > maxFileSize {
		err = fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	if err != nil {
		return nil, &FetchError{URL: url, Err: err}
	}
	return b, nil
}

// writeFile writes b to path (atomicfile.Write), creating its directory, so
// an interrupted run never leaves a partial file under the final name.
func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o644)
}
