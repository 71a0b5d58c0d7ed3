package collateral

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Headers in which Intel PCS explains an error status.
const (
	headerIntelErrorCode    = "Error-Code"
	headerIntelErrorMessage = "Error-Message"
	maxErrorDetail          = 200
)

// normalizeBaseURL checks a service root URL and strips a trailing slash or
// certification path.
func normalizeBaseURL(s string) (string, error) {
	bad := func(reason string) error {
		return &FetchError{Field: "BaseURL", Kind: ErrUnavailable, Err: fmt.Errorf("%q: %s", s, reason)}
	}
	if s == "" {
		return "", bad("not set")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", bad(err.Error())
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", bad("scheme must be https or http")
	}
	if u.Host == "" {
		return "", bad("no host")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", bad("must not have a query or fragment")
	}
	base := strings.TrimRight(s, "/")
	for _, suffix := range []string{"/sgx/certification/v4", "/tdx/certification/v4"} {
		base = strings.TrimSuffix(base, suffix)
	}
	return strings.TrimRight(base, "/"), nil
}

// fetcher performs the PCS v4 requests for one configured service.
type fetcher struct {
	base         string
	apiKey       string
	client       *http.Client
	rootCACRLURL string
	noCDP        bool
}

func (f *fetcher) url(tee, rest string) string {
	return f.base + "/" + tee + "/certification/v4/" + rest
}

func (f *fetcher) fetch(ctx context.Context, req Request) (*Collateral, error) {
	c := &Collateral{}
	var err error

	// TCB Info.
	u := f.url(req.TEE, "tcb?fmspc="+strings.ToUpper(req.FMSPC))
	hdr, body, err := f.get(ctx, u)
	if err != nil {
		return nil, err
	}
	chainHeader := HeaderTCBInfoIssuerChain
	if hdr.Get(chainHeader) == "" && hdr.Get(HeaderTCBInfoIssuerChainV3) != "" {
		chainHeader = HeaderTCBInfoIssuerChainV3
	}
	if c.TCBInfoIssuerChain, err = parseIssuerChain(hdr.Get(chainHeader)); err != nil {
		return nil, &FetchError{URL: u, Field: chainHeader, Kind: ErrInvalid, Err: err}
	}
	if c.TCBInfo, c.TCBInfoSignature, err = parseSignedResponse(body, "tcbInfo"); err != nil {
		return nil, withURL(err, u)
	}
	tcb, err := parseSignedBodyHeader("tcbInfo", c.TCBInfo)
	if err != nil {
		return nil, withURL(err, u)
	}
	tee, err := teeOfTCBInfo(tcb)
	if err != nil {
		return nil, withURL(err, u)
	}
	if tee != req.TEE || !strings.EqualFold(tcb.FMSPC, req.FMSPC) {
		return nil, &FetchError{URL: u, Field: "tcbInfo", Kind: ErrInvalid,
			Err: fmt.Errorf("served %s TCB Info for FMSPC %q, requested %s FMSPC %s", tee, tcb.FMSPC, req.TEE, req.FMSPC)}
	}

	// QE Identity.
	u = f.url(req.TEE, "qe/identity")
	if hdr, body, err = f.get(ctx, u); err != nil {
		return nil, err
	}
	if c.QEIdentityIssuerChain, err = parseIssuerChain(hdr.Get(HeaderEnclaveIdentityChain)); err != nil {
		return nil, &FetchError{URL: u, Field: HeaderEnclaveIdentityChain, Kind: ErrInvalid, Err: err}
	}
	if c.QEIdentity, c.QEIdentitySignature, err = parseSignedResponse(body, "enclaveIdentity"); err != nil {
		return nil, withURL(err, u)
	}
	qe, err := parseSignedBodyHeader("enclaveIdentity", c.QEIdentity)
	if err != nil {
		return nil, withURL(err, u)
	}
	if qe.ID != "" && qe.ID != qeIdentityIDFor[req.TEE] {
		return nil, &FetchError{URL: u, Field: "enclaveIdentity.id", Kind: ErrInvalid,
			Err: fmt.Errorf("served %q, want %q for %s", qe.ID, qeIdentityIDFor[req.TEE], req.TEE)}
	}

	// PCK CRL (always under /sgx/, also for TDX).
	u = f.url(TEESGX, "pckcrl?ca="+req.PCKCA+"&encoding=der")
	if hdr, body, err = f.get(ctx, u); err != nil {
		return nil, err
	}
	if c.PCKCRLIssuerChain, err = parseIssuerChain(hdr.Get(HeaderPCKCRLIssuerChain)); err != nil {
		return nil, &FetchError{URL: u, Field: HeaderPCKCRLIssuerChain, Kind: ErrInvalid, Err: err}
	}
	if c.PCKCRL, err = decodeCRL(body); err != nil {
		return nil, &FetchError{URL: u, Field: "body", Kind: ErrInvalid, Err: err}
	}

	// Root CA CRL.
	if c.RootCACRL, err = f.rootCACRL(ctx, c.PCKCRLIssuerChain); err != nil {
		return nil, err
	}
	return c, nil
}

// rootCACRL gets the Intel SGX Root CA CRL: from RootCACRLURL, else from the
// service's rootcacrl endpoint, else (on 404) from the CRL distribution point of
// the root certificate in chain.
func (f *fetcher) rootCACRL(ctx context.Context, chain []byte) ([]byte, error) {
	u := f.rootCACRLURL
	if u == "" {
		u = f.url(TEESGX, "rootcacrl")
		_, body, err := f.get(ctx, u)
		var fe *FetchError
		switch {
		case err == nil:
			return decodeCRLAt(u, body)
		case f.noCDP || !errors.As(err, &fe) || fe.Status != http.StatusNotFound:
			return nil, err
		}
		cdp, cerr := rootDistributionPoint(chain)
		if cerr != nil {
			return nil, &FetchError{URL: u, Status: http.StatusNotFound, Kind: ErrUnavailable,
				Err: fmt.Errorf("no rootcacrl endpoint, and no CRL distribution point to fall back to: %v", cerr)}
		}
		u = cdp
	}
	_, body, err := f.get(ctx, u)
	if err != nil {
		return nil, err
	}
	return decodeCRLAt(u, body)
}

func decodeCRLAt(u string, body []byte) ([]byte, error) {
	der, err := decodeCRL(body)
	if err != nil {
		return nil, &FetchError{URL: u, Field: "body", Kind: ErrInvalid, Err: err}
	}
	return der, nil
}

// rootDistributionPoint returns the first http(s) CRL distribution point of the
// self-issued (root) certificate in a PEM chain.
func rootDistributionPoint(chain []byte) (string, error) {
	for rest := chain; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return "", errors.New("the PCK CRL issuer chain has no root certificate")
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil || string(cert.RawIssuer) != string(cert.RawSubject) {
			continue
		}
		for _, dp := range cert.CRLDistributionPoints {
			if pu, err := url.Parse(dp); err == nil && (pu.Scheme == "https" || pu.Scheme == "http") && pu.Host != "" {
				return dp, nil
			}
		}
		return "", fmt.Errorf("root certificate %q names no http(s) CRL distribution point", cert.Subject.CommonName)
	}
}

// withURL adds the request URL to a parse error.
func withURL(err error, u string) error {
	var fe *FetchError
	if errors.As(err, &fe) && fe.URL == "" {
		cp := *fe
		cp.URL = u
		return &cp
	}
	return err
}

// get performs one GET and returns the headers and body of a 200 response.
func (f *fetcher) get(ctx context.Context, u string) (http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, &FetchError{URL: u, Kind: ErrUnavailable, Err: err}
	}
	client := f.client
	if f.apiKey != "" {
		req.Header.Set(HeaderSubscriptionKey, f.apiKey)
		client = keyStrippingClient(client, req.URL.Host)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, &FetchError{URL: u, Kind: ErrUnavailable, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, nil, &FetchError{URL: u, Status: resp.StatusCode, Kind: ErrUnavailable, Err: statusDetail(resp)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseSize+1))
	if err != nil {
		return nil, nil, &FetchError{URL: u, Status: resp.StatusCode, Kind: ErrUnavailable, Err: fmt.Errorf("reading body: %w", err)}
	}
	if len(body) > MaxResponseSize {
		return nil, nil, &FetchError{URL: u, Field: "body", Status: resp.StatusCode, Kind: ErrInvalid,
			Err: fmt.Errorf("larger than %d bytes", MaxResponseSize)}
	}
	return resp.Header, body, nil
}

// statusDetail describes a non-200 answer, with Intel's Error-Code and
// Error-Message headers when present.
func statusDetail(resp *http.Response) error {
	msg := http.StatusText(resp.StatusCode)
	if code := resp.Header.Get(headerIntelErrorCode); code != "" {
		msg += ", Error-Code " + clip(code)
	}
	if m := resp.Header.Get(headerIntelErrorMessage); m != "" {
		msg += ", Error-Message " + clip(m)
	}
	return errors.New(msg)
}

func clip(s string) string {
	if len(s) > maxErrorDetail {
		s = s[:maxErrorDetail] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// keyStrippingClient returns a copy of c that drops the subscription key header
// when a redirect leaves host.
func keyStrippingClient(c *http.Client, host string) *http.Client {
	cp := *c
	next := c.CheckRedirect
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != host {
			req.Header.Del(HeaderSubscriptionKey)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cp
}
