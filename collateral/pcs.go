package collateral

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// DefaultTimeout bounds one collateral request when no http.Client is given.
const DefaultTimeout = 60 * time.Second

var defaultClient = &http.Client{Timeout: DefaultTimeout}

// Headers of the PCS v4 API. The issuer chains are URL-encoded PEM.
const (
	HeaderTCBInfoIssuerChain   = "TCB-Info-Issuer-Chain"
	HeaderTCBInfoIssuerChainV3 = "SGX-TCB-Info-Issuer-Chain" // PCS v3 name, still sent by some caches
	HeaderEnclaveIdentityChain = "SGX-Enclave-Identity-Issuer-Chain"
	HeaderPCKCRLIssuerChain    = "SGX-PCK-CRL-Issuer-Chain"
	HeaderSubscriptionKey      = "Ocp-Apim-Subscription-Key"
)

// PCS is a Source that fetches from a service speaking the Intel PCS v4 REST API
// (Intel's Provisioning Certification Service itself, or anything that mirrors
// its paths). Requests, for TEE t in {sgx, tdx}:
//
//	GET /t/certification/v4/tcb?fmspc=FMSPC             TCB Info (header TCB-Info-Issuer-Chain)
//	GET /t/certification/v4/qe/identity                 QE Identity (SGX-Enclave-Identity-Issuer-Chain)
//	GET /sgx/certification/v4/pckcrl?ca=CA&encoding=der PCK CRL (SGX-PCK-CRL-Issuer-Chain)
//	GET /sgx/certification/v4/rootcacrl                 Root CA CRL (DER, PEM or hex accepted)
//
// Intel PCS itself does not serve rootcacrl (a PCCS does): when that request answers 404, the
// Root CA CRL is fetched from the CRL distribution point named in the root
// certificate of the PCK CRL issuer chain (set DisableCRLDistributionPoint to
// forbid that, or RootCACRLURL to name the URL). The zero PCS is unusable:
// BaseURL is required.
type PCS struct {
	// BaseURL is the service root, e.g. "https://pcs.example"; a trailing
	// "/sgx/certification/v4" or "/tdx/certification/v4" is accepted and removed.
	// Required; no host is built in.
	BaseURL string
	// APIKey, when set, is sent as Ocp-Apim-Subscription-Key (Intel PCS v4 does
	// not need one for collateral). It is not sent on a redirect to another host.
	// Empty: no key header.
	APIKey string
	// Client performs the requests. Nil: a client with DefaultTimeout.
	Client *http.Client
	// RootCACRLURL is where to get the Root CA CRL. Empty: the service's
	// rootcacrl endpoint, then the root certificate's CRL distribution point.
	RootCACRLURL string
	// DisableCRLDistributionPoint stops the fallback to the root certificate's
	// CRL distribution point. False: the fallback is used when rootcacrl is 404.
	DisableCRLDistributionPoint bool
}

// Get fetches the four collateral items for req, checks that each response is
// well-formed and that the TCB Info and QE Identity are for the requested TEE and
// FMSPC, and returns them with the signed bodies byte-exact as served. It does
// not verify signatures.
func (p *PCS) Get(ctx context.Context, req Request) (*Collateral, error) {
	n, err := req.Normalize()
	if err != nil {
		return nil, err
	}
	h, err := p.fetcher(p.Client)
	if err != nil {
		return nil, err
	}
	return h.fetch(ctx, n)
}

func (p *PCS) fetcher(client *http.Client) (*fetcher, error) {
	base, err := normalizeBaseURL(p.BaseURL)
	if err != nil {
		return nil, err
	}
	if client == nil {
		client = defaultClient
	}
	return &fetcher{
		base:         base,
		apiKey:       p.APIKey,
		client:       client,
		rootCACRLURL: p.RootCACRLURL,
		noCDP:        p.DisableCRLDistributionPoint,
	}, nil
}

// PCCS is a Source for an Intel Provisioning Certificate Caching Service: the
// same v4 paths as PCS on the PCCS's own base URL. A PCCS serves the Root CA CRL
// on rootcacrl (as hex), so no distribution-point fallback is needed.
type PCCS struct {
	// BaseURL is the PCCS root, e.g. "https://pccs.internal:8081". Required.
	BaseURL string
	// Client performs the requests. Nil: a client with DefaultTimeout.
	Client *http.Client
	// InsecureSkipTLSVerify accepts any TLS certificate from the PCCS (PCCS
	// installs default to a self-signed one). The collateral stays signed by
	// Intel, but a man in the middle can withhold or replay it. Client's
	// Transport must then be nil or an *http.Transport. False: normal TLS checks.
	InsecureSkipTLSVerify bool
	// RootCACRLURL overrides where to get the Root CA CRL. Empty: the PCCS.
	RootCACRLURL string

	once      sync.Once
	client    *http.Client
	clientErr error
}

// Get fetches req's collateral from the PCCS; see PCS.Get.
func (p *PCCS) Get(ctx context.Context, req Request) (*Collateral, error) {
	n, err := req.Normalize()
	if err != nil {
		return nil, err
	}
	p.once.Do(func() { p.client, p.clientErr = p.httpClient() })
	if p.clientErr != nil {
		return nil, p.clientErr
	}
	pcs := PCS{BaseURL: p.BaseURL, RootCACRLURL: p.RootCACRLURL, DisableCRLDistributionPoint: true}
	h, err := pcs.fetcher(p.client)
	if err != nil {
		return nil, err
	}
	return h.fetch(ctx, n)
}

func (p *PCCS) httpClient() (*http.Client, error) {
	if !p.InsecureSkipTLSVerify {
		return p.Client, nil
	}
	c := &http.Client{Timeout: DefaultTimeout}
	if p.Client != nil {
		cp := *p.Client
		c = &cp
	}
	var tr *http.Transport
	switch t := c.Transport.(type) {
	case nil:
		tr = http.DefaultTransport.(*http.Transport).Clone()
	case *http.Transport:
		tr = t.Clone()
	default:
		return nil, &FetchError{Field: "InsecureSkipTLSVerify", Kind: ErrUnavailable,
			Err: fmt.Errorf("needs an *http.Transport, the client has a %T", t)}
	}
	if tr.TLSClientConfig == nil {
		tr.TLSClientConfig = &tls.Config{}
	}
	tr.TLSClientConfig.InsecureSkipVerify = true
	c.Transport = tr
	return c, nil
}

// THIM is a Source for Azure's Trusted Hardware Identity Management cache, which
// mirrors the PCS v4 paths under its own base URL.
//
// THIM has been seen serving TCB Info whose nextUpdate had already passed. When
// Fallback is set, THIM's TCB Info and QE Identity are replaced by Fallback's
// (typically Intel PCS) if either is stale, and the whole set comes from Fallback
// if THIM cannot answer.
type THIM struct {
	// BaseURL is the THIM root. Required; no host is built in.
	BaseURL string
	// Client performs the requests. Nil: a client with DefaultTimeout.
	Client *http.Client
	// Fallback supplies TCB Info and QE Identity when THIM's are stale, and the
	// whole set when THIM is unavailable. Nil: THIM's answer is returned as is.
	Fallback Source
	// Now is the clock for the staleness check. Nil: time.Now.
	Now func() time.Time
}

// Get fetches req's collateral from THIM, using Fallback as documented on THIM.
func (t *THIM) Get(ctx context.Context, req Request) (*Collateral, error) {
	pcs := PCS{BaseURL: t.BaseURL, Client: t.Client}
	c, err := pcs.Get(ctx, req)
	if t.Fallback == nil {
		return c, err
	}
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			return t.Fallback.Get(ctx, req)
		}
		return nil, err
	}
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	tcb, terr := parseSignedBodyHeader("tcbInfo", c.TCBInfo)
	qe, qerr := parseSignedBodyHeader("enclaveIdentity", c.QEIdentity)
	if terr == nil && qerr == nil && now().Before(tcb.NextUpdate) && now().Before(qe.NextUpdate) {
		return c, nil
	}
	fb, err := t.Fallback.Get(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("collateral: THIM's TCB Info or QE Identity is out of date and the fallback failed: %w", err)
	}
	c.TCBInfoIssuerChain, c.TCBInfo, c.TCBInfoSignature = fb.TCBInfoIssuerChain, fb.TCBInfo, fb.TCBInfoSignature
	c.QEIdentityIssuerChain, c.QEIdentity, c.QEIdentitySignature = fb.QEIdentityIssuerChain, fb.QEIdentity, fb.QEIdentitySignature
	return c, nil
}
