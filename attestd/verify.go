package attestd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/sgx"
)

// errNoCollateral is returned by readiness when no collateral is usable.
var errNoCollateral = errors.New("no usable collateral")

// Verifier authenticates an SGX quote: it obtains the collateral and runs
// DCAP verification. DCAPVerifier is the production implementation.
type Verifier interface {
	// VerifyQuote returns the verdict and the collateral it was reached
	// with. For a Revoked TCB level it returns both a Verification and an
	// error (as dcap.Verify does).
	VerifyQuote(ctx context.Context, q *sgx.Quote) (*Verification, error)
}

// Verification is a verified quote: the DCAP verdict and its collateral.
type Verification struct {
	Verdict    *dcap.Verdict
	Collateral *collateral.Collateral
}

// CollateralError wraps a failure to obtain collateral, so that attestd can
// tell "try again later" (503) from "this quote is bad" (400).
type CollateralError struct{ Err error }

func (e *CollateralError) Error() string { return "attestd: collateral: " + e.Err.Error() }
func (e *CollateralError) Unwrap() error { return e.Err }

// QuoteError reports a quote whose collateral cannot even be requested (no
// PCK chain in its certification data, an unknown PCK CA): a permanent
// problem of the quote, unlike a CollateralError.
type QuoteError struct{ Err error }

func (e *QuoteError) Error() string { return "attestd: quote: " + e.Err.Error() }
func (e *QuoteError) Unwrap() error { return e.Err }

// DCAPVerifier verifies quotes with a cached dcap.Verifier and collateral
// from Source (which should itself be cached, see collateral.NewCache).
type DCAPVerifier struct {
	Source collateral.Source
	DCAP   *dcap.Verifier

	// requests caches the collateral request derived from a PCK chain, so
	// that the chain is not parsed on every attestation of a platform.
	requests sync.Map // SHA-256(certification data) -> collateral.Request
	nreq     atomic.Int64
}

// maxRequestCache bounds DCAPVerifier's request cache (one entry per
// platform PCK certificate); when full it is emptied.
const maxRequestCache = 1024

// VerifyQuote derives the collateral request from the quote's PCK
// certificate, gets the collateral and verifies.
func (d *DCAPVerifier) VerifyQuote(ctx context.Context, q *sgx.Quote) (*Verification, error) {
	req, err := d.request(q)
	if err != nil {
		return nil, &QuoteError{Err: err}
	}
	// The FMSPC comes from the PCK certificate: trust it before fetching.
	if err := d.DCAP.CheckPCKChain(q); err != nil {
		return nil, &QuoteError{Err: err}
	}
	coll, err := d.Source.Get(ctx, req)
	if err != nil {
		return nil, &CollateralError{Err: err}
	}
	v, err := d.DCAP.Verify(q, coll)
	if v == nil {
		return nil, err
	}
	return &Verification{Verdict: v, Collateral: coll}, err
}

// request returns dcap.CollateralRequestFor(q), cached by the quote's
// certification data (the request depends on nothing else but the TEE).
func (d *DCAPVerifier) request(q *sgx.Quote) (collateral.Request, error) {
	// Keyed by a digest: the certification data is not covered by the quote
	// signature and is checked only after this, so the cache must not
	// retain attacker-sized keys.
	sum := sha256.Sum256(q.Signature.CertData.Data)
	key := string(sum[:])
	if q.IsTDX() {
		key = "tdx\x00" + key
	}
	if r, ok := d.requests.Load(key); ok {
		return r.(collateral.Request), nil
	}
	r, err := dcap.CollateralRequestFor(q)
	if err != nil {
		return r, err
	}
	if d.nreq.Add(1) > maxRequestCache {
		d.requests.Clear()
		d.nreq.Store(0)
	}
	d.requests.Store(key, r)
	return r, nil
}

// bundleSet is a collateral.Source over several offline bundles: the first
// bundle that holds the requested collateral answers.
type bundleSet []*collateral.Bundle

func (b bundleSet) Get(ctx context.Context, req collateral.Request) (*collateral.Collateral, error) {
	var errs []error
	for _, bu := range b {
		c, err := bu.Get(ctx, req)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, &collateral.FetchError{Field: "bundles", Kind: collateral.ErrUnavailable,
		Err: fmt.Errorf("no bundle for %s: %w", req, errors.Join(errs...))}
}

// chainSources asks first, then second when first has no collateral.
type chainSources struct{ first, second collateral.Source }

func (c chainSources) Get(ctx context.Context, req collateral.Request) (*collateral.Collateral, error) {
	got, err := c.first.Get(ctx, req)
	if err == nil || !errors.Is(err, collateral.ErrUnavailable) {
		return got, err
	}
	return c.second.Get(ctx, req)
}

// collateralProbe decides whether collateral is usable, for /readyz:
// offline bundles must not all be out of date, and a network source must
// answer its QE Identity endpoint (which needs no FMSPC) or have valid
// collateral in its cache. Results are kept
// for probeTTL.
type collateralProbe struct {
	bundles []*collateral.Collateral
	baseURL string // PCS/PCCS base URL; empty: no network source
	// cache is the network source's cache: while it holds valid sets, an
	// unreachable source does not make the service unready.
	cache  *collateral.Cache
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex
	checked time.Time
	last    error
}

const probeTTL = 30 * time.Second

func (p *collateralProbe) check(ctx context.Context) error {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.checked.IsZero() && now.Sub(p.checked) < probeTTL {
		return p.last
	}
	p.last = p.probe(ctx, now)
	p.checked = now
	return p.last
}

func (p *collateralProbe) probe(ctx context.Context, now time.Time) error {
	var errs []error
	for _, c := range p.bundles {
		s, err := collateral.Summarize(c)
		if err == nil && now.Before(s.NextUpdate) {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("bundle for FMSPC %s expired at %s", s.FMSPC, s.NextUpdate.Format(time.RFC3339))
		}
		errs = append(errs, err)
	}
	if p.baseURL != "" {
		err := p.probeURL(ctx)
		if err == nil {
			return nil
		}
		if p.cache != nil && p.cache.Fresh() > 0 {
			return nil // attestations for the cached platforms still work
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return errNoCollateral
	}
	return fmt.Errorf("%w: %w", errNoCollateral, errors.Join(errs...))
}

func (p *collateralProbe) probeURL(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	u := p.baseURL + "/sgx/certification/v4/qe/identity"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	var body struct {
		EnclaveIdentity json.RawMessage `json:"enclaveIdentity"`
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&body); err != nil || len(bytes.TrimSpace(body.EnclaveIdentity)) == 0 {
		return fmt.Errorf("GET %s: not a QE Identity response", u)
	}
	return nil
}
