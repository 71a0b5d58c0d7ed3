// Package corpus locates the shared corpus of real Intel quotes, collateral and
// enclaves for tests. The corpus is read by path and never copied into the project.
package corpus

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/sgxops/sgxops/internal/corpusfetch/manifest"
	"github.com/sgxops/sgxops/internal/testdeps"
)

// Dir returns the corpus directory: $SGXOPS_CORPUS, else ../shared/corpus next to
// the repository root, else the cache that `make corpus` fills. When the corpus is
// missing the test skips with one line, or fails under make test and CI
// (testdeps.Required): CI must not go green without the real data.
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("SGXOPS_CORPUS")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "corpus")
		if !present(dir) {
			if cache, err := os.UserCacheDir(); err == nil && present(filepath.Join(cache, "sgxops-corpus", manifest.Hash())) {
				dir = filepath.Join(cache, "sgxops-corpus", manifest.Hash())
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, marker)); err != nil {
		testdeps.Missing(t, fmt.Sprintf("the corpus of real quotes is not at %s (%v)", dir, err),
			"run `make corpus` (downloads it from its public origins) or set SGXOPS_CORPUS to a corpus directory")
	}
	return dir
}

// marker is a verbatim corpus file whose presence says a corpus is there: the
// shared corpus and the cache `make corpus` fills both have it (the curated
// index, cases.json, only the former).
const marker = "phala-dcap-qvl/sgx_quote"

func present(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, marker))
	return err == nil
}

// Path joins rel onto the corpus directory.
func Path(t testing.TB, rel string) string { return filepath.Join(Dir(t), rel) }

// Read returns the contents of a corpus file.
func Read(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(Path(t, rel))
	if err != nil {
		t.Fatalf("corpus: %v", err)
	}
	return b
}

// Quotes lists the real quote files of the corpus (raw, hex and 0x-hex), relative paths.
var Quotes = []string{
	"phala-dcap-qvl/sgx_quote",
	"phala-dcap-qvl/tdx_quote",
	"phala-dcap-qvl/tdx_quote_outdated",
	"phala-dcap-qvl/quote-from-tappd.hex",
	"phala-dcap-qvl/tdx-quote.hex",
	"phala-dcap-qvl/near_quote_hex.txt",
	"automata/quotev3.hex",
	"automata/quotev4.hex",
	"automata/quotev5.dat",
	"automata/solana/quote_sgx.bin",
	"go-tdx-guest/cos-113-tdx-quote.dat",
	"go-tdx-guest/quote_v5_sample.dat",
	"go-tdx-guest/tdx_prod_quote_SPR_E4.dat",
	"openenclave/sgx_quote",
	"openenclave/tdx_quote.bin",
	"openenclave/tdx_quote_v5.bin",
	"openenclave/tdx_quote-moduleupdate-seamldr5.dat",
	"trustee/az-tdx-vtpm-td-quote.bin",
	"trustee/occlum_quote.dat",
	"trustee/tdx_quote_4.dat",
	"trustee/tdx_quote_5.dat",
	"trustee/tdx_quote_6.dat",
	"intel-qvl-synthetic/quote.dat",
	"intel-qvl-synthetic/tdx/quote.dat",
}
