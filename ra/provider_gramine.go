package ra

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// DefaultGramineDir is Gramine's attestation pseudo-filesystem.
const DefaultGramineDir = "/dev/attestation"

// GramineProvider gets DCAP quotes from Gramine's /dev/attestation interface
// inside an SGX enclave: it writes the 64-byte report data to
// user_report_data and reads the quote from quote. The two steps are one
// transaction per process, so calls are serialised.
type GramineProvider struct {
	// Dir is the attestation directory. Empty means DefaultGramineDir.
	Dir string

	mu sync.Mutex
}

// Name describes the provider.
func (g *GramineProvider) Name() string { return "gramine-dcap (" + g.dir() + ")" }

func (g *GramineProvider) dir() string {
	if g.Dir == "" {
		return DefaultGramineDir
	}
	return g.Dir
}

// Quote writes reportData to user_report_data and returns the contents of
// quote. If attestation_type exists it must say "dcap".
func (g *GramineProvider) Quote(reportData [64]byte) ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	dir := g.dir()
	if t, err := os.ReadFile(filepath.Join(dir, "attestation_type")); err == nil {
		if typ := string(bytes.TrimSpace(t)); typ != "dcap" {
			return nil, fmt.Errorf("ra: gramine: attestation_type is %q, want \"dcap\" (set sgx.remote_attestation = \"dcap\" in the manifest)", typ)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("ra: gramine: %w", err)
	}
	// Open without O_CREATE/O_TRUNC: these are pseudo-files that must exist.
	f, err := os.OpenFile(filepath.Join(dir, "user_report_data"), os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("ra: gramine: not running under Gramine with remote attestation? %w", err)
	}
	n, err := f.Write(reportData[:])
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("ra: gramine: write user_report_data: %w", err)
	}
	if n != len(reportData) {
		return nil, fmt.Errorf("ra: gramine: wrote %d of 64 bytes of user_report_data", n)
	}
	q, err := os.ReadFile(filepath.Join(dir, "quote"))
	if err != nil {
		return nil, fmt.Errorf("ra: gramine: read quote: %w", err)
	}
	if len(q) == 0 {
		return nil, errors.New("ra: gramine: empty quote")
	}
	return q, nil
}
