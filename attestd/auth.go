package attestd

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/sgxops/sgxops/attestd/config"
)

// Principal is an authenticated admin caller.
type Principal struct {
	// Name identifies the caller in the audit log, prefixed by the method:
	// "token:ci", "jwt:alice@example", "mtls:CN=ops".
	Name string
	// Role is config.RoleAdmin or config.RoleReader.
	Role string
}

// authenticator checks admin credentials: static bearer tokens, bearer JWTs
// from a configured issuer, and verified mTLS client certificates.
type authenticator struct {
	tokens map[[32]byte]config.StaticToken
	jwt    *jwtVerifier
	mtls   *config.MTLSConfig // nil: mTLS not configured
}

func newAuthenticator(cfg config.AuthConfig, mtlsEnabled bool, jwt *jwtVerifier) *authenticator {
	a := &authenticator{tokens: map[[32]byte]config.StaticToken{}, jwt: jwt}
	for _, t := range cfg.Tokens {
		var h [32]byte
		_, _ = hex.Decode(h[:], []byte(t.SHA256)) // validated by config.Config.Validate
		a.tokens[h] = t
	}
	if mtlsEnabled {
		m := cfg.MTLS
		a.mtls = &m
	}
	return a
}

func unauthorized(format string, args ...any) *APIError {
	return apiErrorf(http.StatusUnauthorized, CodeUnauthorized, format, args...)
}

func forbidden(format string, args ...any) *APIError {
	return apiErrorf(http.StatusForbidden, CodeForbidden, format, args...)
}

// authenticate returns the caller of r, or a 401 (no or bad credentials) or
// 403 (valid credentials without a role).
func (a *authenticator) authenticate(r *http.Request) (*Principal, *APIError) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return nil, unauthorized("Authorization header must be \"Bearer <token>\"")
		}
		tok = strings.TrimSpace(tok)
		sum := sha256.Sum256([]byte(tok))
		for h, t := range a.tokens {
			if subtle.ConstantTimeCompare(h[:], sum[:]) == 1 {
				return &Principal{Name: "token:" + t.Name, Role: t.Role}, nil
			}
		}
		if a.jwt != nil && strings.Count(tok, ".") == 2 {
			return a.jwt.principal(r.Context(), tok)
		}
		return nil, unauthorized("bearer token not recognised")
	}
	if a.mtls != nil && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		cn := r.TLS.VerifiedChains[0][0].Subject.CommonName
		p := &Principal{Name: "mtls:CN=" + cn}
		switch {
		case len(a.mtls.Admins)+len(a.mtls.Readers) == 0, slices.Contains(a.mtls.Admins, cn):
			p.Role = config.RoleAdmin
		case slices.Contains(a.mtls.Readers, cn):
			p.Role = config.RoleReader
		default:
			return nil, forbidden("client certificate CN=%q has no role", cn)
		}
		return p, nil
	}
	return nil, unauthorized("authentication required: a bearer token or an mTLS client certificate")
}

// require authenticates r and checks the role: admin for writes, reader or
// admin for reads.
func (a *authenticator) require(r *http.Request, role string) (*Principal, *APIError) {
	p, err := a.authenticate(r)
	if err != nil {
		return nil, err
	}
	if role == config.RoleAdmin && p.Role != config.RoleAdmin {
		return nil, forbidden("%s has role %q; this call needs %q", p.Name, p.Role, config.RoleAdmin)
	}
	return p, nil
}

// jwtAlgs are the signature algorithms accepted for admin JWTs. "none" and
// HMAC (a shared secret would have to live in attestd's config) are not.
var jwtAlgs = map[string]jwa.SignatureAlgorithm{
	"RS256": jwa.RS256(), "RS384": jwa.RS384(), "RS512": jwa.RS512(),
	"PS256": jwa.PS256(), "PS384": jwa.PS384(), "PS512": jwa.PS512(),
	"ES256": jwa.ES256(), "ES384": jwa.ES384(), "ES512": jwa.ES512(), "EdDSA": jwa.EdDSA(),
}

// jwtVerifier checks admin JWTs against an issuer's JWKS.
type jwtVerifier struct {
	cfg    config.JWTAuthConfig
	now    func() time.Time
	client *http.Client

	mu        sync.Mutex
	keys      jwk.Set
	fetchedAt time.Time
}

// jwtSkew tolerates clock differences with the token issuer.
const jwtSkew = 60 * time.Second

// jwksRefresh is how often a JWKS URL is re-read; an unknown kid triggers a
// re-read at most every jwksMinRefetch.
const (
	jwksRefresh    = 10 * time.Minute
	jwksMinRefetch = 30 * time.Second
	maxJWKSBytes   = 1 << 20
)

func newJWTVerifier(ctx context.Context, cfg config.JWTAuthConfig, now func() time.Time, client *http.Client) (*jwtVerifier, error) {
	if cfg.RoleClaim == "" {
		cfg.RoleClaim = "roles"
	}
	if cfg.AdminRole == "" {
		cfg.AdminRole = "sgxops.admin"
	}
	if cfg.ReaderRole == "" {
		cfg.ReaderRole = "sgxops.reader"
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	v := &jwtVerifier{cfg: cfg, now: now, client: client}
	if err := v.load(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *jwtVerifier) load(ctx context.Context) error {
	var b []byte
	var err error
	if v.cfg.JWKSFile != "" {
		b, err = os.ReadFile(v.cfg.JWKSFile)
	} else {
		b, err = v.fetch(ctx)
	}
	if err != nil {
		return fmt.Errorf("attestd: admin JWT keys: %w", err)
	}
	set, err := jwk.Parse(b)
	if err != nil {
		return fmt.Errorf("attestd: admin JWT keys: %w", err)
	}
	v.mu.Lock()
	v.keys, v.fetchedAt = set, v.now()
	v.mu.Unlock()
	return nil
}

func (v *jwtVerifier) fetch(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", v.cfg.JWKSURL, resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
}

// key returns the key for kid, re-reading a JWKS URL when it is old or the
// kid is unknown (rate limited).
func (v *jwtVerifier) key(ctx context.Context, kid string) (jwk.Key, bool) {
	v.mu.Lock()
	set, at := v.keys, v.fetchedAt
	k, ok := set.LookupKeyID(kid)
	now := v.now()
	age := now.Sub(at)
	refetch := v.cfg.JWKSURL != "" && (age > jwksRefresh || !ok && age > jwksMinRefetch)
	if refetch {
		// Claim the refetch: concurrent callers and a failing URL must not
		// turn every (anonymous) request into an outbound fetch.
		v.fetchedAt = now
	}
	v.mu.Unlock()
	if refetch {
		if err := v.load(ctx); err == nil {
			v.mu.Lock()
			set = v.keys
			v.mu.Unlock()
			k, ok = set.LookupKeyID(kid)
		}
	}
	return k, ok
}

// principal verifies an admin JWT: a known alg (never none or HMAC), a kid
// in the issuer's JWKS, the signature, iss, aud, exp (required) and nbf.
func (v *jwtVerifier) principal(ctx context.Context, tok string) (*Principal, *APIError) {
	parts := strings.Split(tok, ".")
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, unauthorized("bearer JWT header is not base64url")
	}
	var h struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, unauthorized("bearer JWT header is not JSON")
	}
	alg, ok := jwtAlgs[h.Alg]
	if !ok {
		return nil, unauthorized("bearer JWT alg %q is not accepted", h.Alg)
	}
	key, ok := v.key(ctx, h.Kid)
	if !ok {
		return nil, unauthorized("bearer JWT kid %q is not a key of issuer %s", h.Kid, v.cfg.Issuer)
	}
	payload, err := jws.Verify([]byte(tok), jws.WithKey(alg, key))
	if err != nil {
		return nil, unauthorized("bearer JWT signature does not verify")
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, unauthorized("bearer JWT payload is not a JSON object")
	}
	if iss, _ := c["iss"].(string); iss != v.cfg.Issuer {
		return nil, unauthorized("bearer JWT iss %q is not %q", iss, v.cfg.Issuer)
	}
	if !audienceContains(c["aud"], v.cfg.Audience) {
		return nil, unauthorized("bearer JWT aud does not contain %q", v.cfg.Audience)
	}
	now := v.now()
	exp, ok := numericDate(c["exp"])
	if !ok {
		return nil, unauthorized("bearer JWT has no exp")
	}
	if !now.Before(exp.Add(jwtSkew)) {
		return nil, unauthorized("bearer JWT expired at %s", exp.UTC().Format(time.RFC3339))
	}
	if nbf, ok := numericDate(c["nbf"]); ok && now.Add(jwtSkew).Before(nbf) {
		return nil, unauthorized("bearer JWT not valid before %s", nbf.UTC().Format(time.RFC3339))
	}
	sub, _ := c["sub"].(string)
	p := &Principal{Name: "jwt:" + sub}
	roles := claimStrings(c[v.cfg.RoleClaim])
	switch {
	case slices.Contains(roles, v.cfg.AdminRole):
		p.Role = config.RoleAdmin
	case slices.Contains(roles, v.cfg.ReaderRole):
		p.Role = config.RoleReader
	default:
		return nil, forbidden("bearer JWT of %q has neither role %q nor %q in claim %q", sub, v.cfg.AdminRole, v.cfg.ReaderRole, v.cfg.RoleClaim)
	}
	return p, nil
}

// audienceContains reports whether aud (a string or an array of strings)
// names want exactly; unlike roles, an aud string is one value, not a
// space-separated list.
func audienceContains(aud any, want string) bool {
	if s, ok := aud.(string); ok {
		return s == want
	}
	return slices.Contains(claimStrings(aud), want)
}

// claimStrings reads a string, space-separated string or array of strings.
func claimStrings(v any) []string {
	switch t := v.(type) {
	case string:
		return strings.Fields(t)
	case []any:
		var out []string
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func numericDate(v any) (time.Time, bool) {
	f, ok := v.(float64)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}
