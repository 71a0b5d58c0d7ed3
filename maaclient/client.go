package maaclient

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultAPIVersion is the api-version sent when Options.APIVersion is empty.
const DefaultAPIVersion = "2022-08-01"

// DefaultClockSkew is tolerated on exp/nbf/iat when Options.ClockSkew is zero.
const DefaultClockSkew = 30 * time.Second

// maxResponse bounds response bodies.
const maxResponse = 4 << 20

// Options configures a Client. The zero value is usable.
type Options struct {
	// HTTPClient performs requests. Nil: a client with a 30 s timeout and the
	// system roots (set one with RootCAs for a private or development CA).
	HTTPClient *http.Client
	// APIVersion is sent on /attest. Empty: DefaultAPIVersion.
	APIVersion string
	// ClockSkew is tolerated when checking exp, nbf and iat. Zero:
	// DefaultClockSkew; negative: none.
	ClockSkew time.Duration
	// Now is the clock. Nil: time.Now.
	Now func() time.Time
}

// Client talks to one attestation service, whose base URL is the pinned
// issuer. It is safe for concurrent use and caches the signing keys.
type Client struct {
	issuer string
	http   *http.Client
	api    string
	skew   time.Duration
	now    func() time.Time

	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey
	fetched time.Time // last /certs attempt, failed ones included

	fetchMu sync.Mutex // one /certs fetch at a time
}

// keyRefetch rate-limits re-reading /certs when a token names an unknown kid.
const keyRefetch = 10 * time.Second

// New returns a Client for the service at issuer, its base URL exactly as it
// appears in tokens (scheme://host[:port], no trailing slash).
func New(issuer string, opts Options) (*Client, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
		return nil, fmt.Errorf("maaclient: issuer %q must be scheme://host[:port] without a path or trailing slash", issuer)
	}
	c := &Client{issuer: issuer, http: opts.HTTPClient, api: opts.APIVersion, skew: opts.ClockSkew, now: opts.Now}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.api == "" {
		c.api = DefaultAPIVersion
	}
	switch {
	case c.skew == 0:
		c.skew = DefaultClockSkew
	case c.skew < 0:
		c.skew = 0
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Issuer returns the pinned issuer.
func (c *Client) Issuer() string { return c.issuer }

// AttestOptions are the optional parts of an attestation request.
type AttestOptions struct {
	// RuntimeData is bound to the quote (report_data[0:32] = SHA-256 of it);
	// RuntimeDataJSON sends it as dataType JSON (x-ms-runtime claim).
	RuntimeData     []byte
	RuntimeDataJSON bool
	// InitTimeData is bound to CONFIGID (SGX, KSS enclaves only) or to
	// HOST_DATA (SEV-SNP): SHA-256 of it must equal the field.
	InitTimeData     []byte
	InitTimeDataJSON bool
	// Nonce is echoed in the token's nonce claim.
	Nonce string
	// App restricts the sgxops appraisal to one app (query sgxops-app).
	App string
	// Candidate asks attestd to accept this candidate release (a rollout's
	// test; query sgxops-candidate).
	Candidate string
}

type wireData struct {
	Data     string `json:"data"`
	DataType string `json:"dataType"`
}

func dataOf(b []byte, isJSON bool) *wireData {
	if b == nil {
		return nil
	}
	t := "Binary"
	if isJSON {
		t = "JSON"
	}
	return &wireData{Data: base64.RawURLEncoding.EncodeToString(b), DataType: t}
}

// AttestSGX submits an SGX quote to /attest/SgxEnclave and verifies the
// token against exp (with exp.RuntimeData defaulting to ao.RuntimeData,
// exp.Nonce to ao.Nonce, and exp.AllowCandidate set when ao.Candidate is).
func (c *Client) AttestSGX(ctx context.Context, quote []byte, ao AttestOptions, exp Expectations) (*Token, error) {
	return c.attest(ctx, "SgxEnclave", "quote", quote, ao, exp)
}

// AttestOpenEnclave submits an Open Enclave report (16-byte header + SGX
// quote) to /attest/OpenEnclave and verifies the token like AttestSGX.
func (c *Client) AttestOpenEnclave(ctx context.Context, report []byte, ao AttestOptions, exp Expectations) (*Token, error) {
	return c.attest(ctx, "OpenEnclave", "report", report, ao, exp)
}

// OpenEnclaveReport wraps an SGX quote in the Open Enclave remote-report
// header (version 1, type 2, size).
func OpenEnclaveReport(quote []byte) []byte {
	out := make([]byte, 16, 16+len(quote))
	binary.LittleEndian.PutUint32(out[0:4], 1)
	binary.LittleEndian.PutUint32(out[4:8], 2)
	binary.LittleEndian.PutUint64(out[8:16], uint64(len(quote)))
	return append(out, quote...)
}

func (c *Client) attest(ctx context.Context, typ, field string, evidence []byte, ao AttestOptions, exp Expectations) (*Token, error) {
	tok, err := c.RawAttest(ctx, typ, field, evidence, ao)
	if err != nil {
		return nil, err
	}
	ao.defaults(&exp.RuntimeData, &exp.Nonce, &exp.AllowCandidate)
	return c.Verify(ctx, tok, exp)
}

// defaults fills unset expectations from the request: the runtime data and
// nonce sent must come back; a candidate asked for is accepted.
func (ao AttestOptions) defaults(runtimeData *[]byte, nonce *string, allowCandidate *bool) {
	if *runtimeData == nil {
		*runtimeData = ao.RuntimeData
	}
	if *nonce == "" {
		*nonce = ao.Nonce
	}
	if ao.Candidate != "" {
		*allowCandidate = true // the caller asked for it
	}
}

// AttestTDX submits a TDX quote (v4 or v5) to /attest/TdxVm and verifies the
// token with VerifyCVM against exp, with exp.Kind defaulting to KindTDX and
// the other defaults of AttestSGX. TDX has no field to bind
// ao.InitTimeData to: the service refuses it.
func (c *Client) AttestTDX(ctx context.Context, quote []byte, ao AttestOptions, exp CVMExpectations) (*CVMToken, error) {
	return c.attestCVM(ctx, KindTDX, "TdxVm", "quote", quote, ao, exp)
}

// AttestSevSnp submits a SEV-SNP report (raw, or an Azure HCL report) with
// its VCEK or VLEK certificate, and optionally ASK and ARK (vcekChainPEM,
// PEM), to /attest/SevSnpVm in MAA's envelope {"SnpReport",
// "VcekCertChain"}, and verifies the token with VerifyCVM against exp, with
// exp.Kind defaulting to KindSEVSNP, exp.HostData to
// SHA-256(ao.InitTimeData) when that is set (the service binds it to
// HOST_DATA), and the other defaults of AttestSGX. An empty vcekChainPEM
// leaves VcekCertChain out (MAA then fetches the certificate itself; attestd
// refuses).
func (c *Client) AttestSevSnp(ctx context.Context, report, vcekChainPEM []byte, ao AttestOptions, exp CVMExpectations) (*CVMToken, error) {
	env := map[string]string{"SnpReport": base64.RawURLEncoding.EncodeToString(report)}
	if len(vcekChainPEM) > 0 {
		env["VcekCertChain"] = base64.RawURLEncoding.EncodeToString(vcekChainPEM)
	}
	b, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	if exp.HostData == "" && ao.InitTimeData != nil {
		sum := sha256.Sum256(ao.InitTimeData)
		exp.HostData = hex.EncodeToString(sum[:])
	}
	return c.attestCVM(ctx, KindSEVSNP, "SevSnpVm", "report", b, ao, exp)
}

func (c *Client) attestCVM(ctx context.Context, kind CVMKind, typ, field string, evidence []byte, ao AttestOptions, exp CVMExpectations) (*CVMToken, error) {
	tok, err := c.RawAttest(ctx, typ, field, evidence, ao)
	if err != nil {
		return nil, err
	}
	if exp.Kind == 0 {
		exp.Kind = kind
	}
	ao.defaults(&exp.RuntimeData, &exp.Nonce, &exp.AllowCandidate)
	return c.VerifyCVM(ctx, tok, exp)
}

// RawAttest posts evidence to /attest/{typ} (field "quote" or "report") and
// returns the token unverified. Use Verify or VerifyCVM before trusting it.
func (c *Client) RawAttest(ctx context.Context, typ, field string, evidence []byte, ao AttestOptions) (string, error) {
	body := map[string]any{field: base64.RawURLEncoding.EncodeToString(evidence)}
	if d := dataOf(ao.RuntimeData, ao.RuntimeDataJSON); d != nil {
		body["runtimeData"] = d
	}
	if d := dataOf(ao.InitTimeData, ao.InitTimeDataJSON); d != nil {
		body["initTimeData"] = d
	}
	if ao.Nonce != "" {
		body["nonce"] = ao.Nonce
	}
	b, err := json.Marshal(body)
	if err != nil {
		return "", err
	}
	q := url.Values{"api-version": {c.api}}
	if ao.App != "" {
		q.Set("sgxops-app", ao.App)
	}
	if ao.Candidate != "" {
		q.Set("sgxops-candidate", ao.Candidate)
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := c.do(ctx, http.MethodPost, "/attest/"+typ+"?"+q.Encode(), b, &out); err != nil {
		return "", err
	}
	if out.Token == "" {
		return "", fmt.Errorf("maaclient: /attest/%s answered without a token", typ)
	}
	return out.Token, nil
}

// do performs a request and decodes a JSON answer, turning MAA error bodies
// into *ServiceError.
func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.issuer+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("maaclient: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("maaclient: %s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		se := &ServiceError{StatusCode: resp.StatusCode}
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(rb, &eb) == nil && eb.Error.Code != "" {
			se.Code, se.Message = eb.Error.Code, eb.Error.Message
		} else {
			se.Message = strings.TrimSpace(string(rb))
		}
		return se
	}
	if err := json.Unmarshal(rb, out); err != nil {
		return fmt.Errorf("maaclient: %s %s: response is not JSON: %w", method, path, err)
	}
	return nil
}

// jwk is one /certs key as MAA publishes it.
type jwk struct {
	Kty string   `json:"kty"`
	Kid string   `json:"kid"`
	X5C []string `json:"x5c"`
	N   string   `json:"n"`
	E   string   `json:"e"`
	Alg string   `json:"alg"`
	Use string   `json:"use"`
}

// key returns the issuer's signing key kid, fetching /certs when the cache
// is empty or (rate limited) when kid is unknown. Fetches are serialized and
// every attempt, failed or not, counts for the rate limit: tokens naming
// unknown kids must not turn into a stream of /certs requests.
func (c *Client) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	c.mu.Lock()
	k, ok := c.keys[kid]
	c.mu.Unlock()
	if ok {
		return k, nil
	}
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	c.mu.Lock()
	k, ok = c.keys[kid] // a fetch we waited for may have brought it
	have := c.keys != nil
	now := c.now()
	due := c.fetched.IsZero() || now.Sub(c.fetched) > keyRefetch
	if !ok && due {
		c.fetched = now
	}
	c.mu.Unlock()
	switch {
	case ok:
		return k, nil
	case !due && !have:
		return nil, rejectf(ReasonKeys, "%s/certs could not be read; retrying at most every %s", c.issuer, keyRefetch)
	case !due:
		return nil, rejectf(ReasonUnknownKey, "kid %q is not among %s/certs", kid, c.issuer)
	}
	keys, err := c.fetchKeys(ctx)
	if err != nil {
		return nil, &Error{Reason: ReasonKeys, Msg: "fetching " + c.issuer + "/certs", Err: err}
	}
	c.mu.Lock()
	c.keys = keys
	k, ok = keys[kid]
	c.mu.Unlock()
	if !ok {
		return nil, rejectf(ReasonUnknownKey, "kid %q is not among %s/certs", kid, c.issuer)
	}
	return k, nil
}

// fetchKeys reads /certs: RSA keys (>= 2048 bits) from x5c[0]; where n and e
// are given they must be the same key. Keys that are not RSA are skipped.
func (c *Client) fetchKeys(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := c.do(ctx, http.MethodGet, "/certs", nil, &set); err != nil {
		return nil, err
	}
	out := map[string]*rsa.PublicKey{}
	for i, k := range set.Keys {
		if k.Kty != "RSA" || k.Kid == "" {
			continue
		}
		if len(k.X5C) == 0 {
			return nil, fmt.Errorf("key %d (%s) has no x5c", i, k.Kid)
		}
		der, err := base64.StdEncoding.DecodeString(k.X5C[0])
		if err != nil {
			return nil, fmt.Errorf("key %s: x5c[0] is not standard base64: %w", k.Kid, err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("key %s: x5c[0]: %w", k.Kid, err)
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok || pub.N.BitLen() < 2048 {
			return nil, fmt.Errorf("key %s: x5c[0] does not hold an RSA key of at least 2048 bits", k.Kid)
		}
		if k.N != "" || k.E != "" {
			n, err1 := base64.RawURLEncoding.DecodeString(k.N)
			e, err2 := base64.RawURLEncoding.DecodeString(k.E)
			if err1 != nil || err2 != nil || new(big.Int).SetBytes(n).Cmp(pub.N) != 0 || new(big.Int).SetBytes(e).Int64() != int64(pub.E) {
				return nil, fmt.Errorf("key %s: n/e do not match the x5c certificate", k.Kid)
			}
		}
		out[k.Kid] = pub
	}
	return out, nil
}
