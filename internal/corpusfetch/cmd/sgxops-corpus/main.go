// Command sgxops-corpus builds the test corpus from its public origins into a
// cache directory and prints the export line for SGXOPS_CORPUS (make corpus).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/sgxops/sgxops/internal/corpusfetch"
	"github.com/sgxops/sgxops/internal/corpusfetch/manifest"
)

func main() {
	dir := flag.String("dir", "", "corpus directory to fill (default: the user cache dir/sgxops-corpus/<manifest hash>)")
	printDir := flag.Bool("print-dir", false, "print the default directory and exit")
	base := flag.String("base-url", corpusfetch.DefaultBaseURL, "where BASE/owner/name/commit/path serves origin files")
	index := flag.String("index-from", "", "an existing corpus to copy its curated index (cases.json, sev-snp/cases.json, PROVENANCE.md) from; no test needs it")
	flag.Parse()
	if *dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			fail(err)
		}
		*dir = filepath.Join(cache, "sgxops-corpus", manifest.Hash())
	}
	if *printDir {
		fmt.Println(*dir)
		return
	}
	m, err := manifest.Load()
	if err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := corpusfetch.Run(ctx, m, corpusfetch.Options{Dir: *dir, BaseURL: *base, IndexFrom: *index})
	if err != nil {
		fail(fmt.Errorf("%w\n(make corpus needs network access to %s; nothing partial is left under a final name)", err, *base))
	}
	fmt.Fprintf(os.Stderr, "corpus in %s: %d downloaded, %d already present, %d rebuilt\n", *dir, rep.Downloaded, rep.Cached, rep.Rebuilt)
	if len(rep.MissingIndex) > 0 {
		fmt.Fprintf(os.Stderr, "left out: %s (the corpus's curated index, with no public origin; the tests use internal/corpus's case tables, and -index-from DIR copies it from an existing corpus)\n", strings.Join(rep.MissingIndex, ", "))
	}
	fmt.Printf("export SGXOPS_CORPUS=%s\n", *dir)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sgxops-corpus:", err)
	os.Exit(1)
}
