package dcap

import (
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/internal/corpus"
	"github.com/sgxops/sgxops/sgx"
)

// corpusCase is one of the corpus's quote cases (internal/corpus.QuoteCases).
type corpusCase = corpus.QuoteCase

// loadCases returns the quote cases once the corpus is known to be present.
func loadCases(t testing.TB) []corpusCase {
	t.Helper()
	corpus.Dir(t)
	return corpus.QuoteCases
}

// quoteRaw returns the binary quote of a corpus file (raw, hex or 0x-hex).
func quoteRaw(t testing.TB, rel string) []byte {
	t.Helper()
	b, _, err := sgx.DecodeBinary(corpus.Read(t, rel))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return b
}

func loadQuote(t testing.TB, rel string) *sgx.Quote {
	t.Helper()
	q, err := sgx.ParseQuote(quoteRaw(t, rel))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return q
}

func loadBundle(t testing.TB, rel string) *collateral.Collateral {
	t.Helper()
	c, err := collateral.ParseBundle(corpus.Read(t, rel))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return c
}

func at(unix int64) func() time.Time { return func() time.Time { return time.Unix(unix, 0).UTC() } }

// qvlTestRoots returns a pool with Intel QVL's synthetic test root.
func qvlTestRoots(t testing.TB, rel string) *x509.CertPool {
	t.Helper()
	blk, _ := pem.Decode(corpus.Read(t, rel))
	if blk == nil {
		t.Fatalf("%s: not PEM", rel)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

func x509NewCertPool() *x509.CertPool { return x509.NewCertPool() }

// derToPEM reads a DER certificate of the corpus as PEM.
func derToPEM(t testing.TB, rel string) []byte {
	t.Helper()
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: corpus.Read(t, rel)})
}
