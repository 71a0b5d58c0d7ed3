package maaclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

type header struct {
	Alg string `json:"alg"`
	Jku string `json:"jku"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// jwt is a token whose header, signature, issuer and validity period have
// been checked; its TEE claims have not.
type jwt struct {
	raw    string
	claims claimReader
	kid    string
	iss    string
	iat    time.Time // zero if absent
	nbf    time.Time // zero if absent
	exp    time.Time
}

// verifyJWS runs the checks every token gets, whatever its TEE: the header
// (RS256 only, typ JWT, a kid, jku = issuer + "/certs"), the signature with
// the issuer's key for kid, the payload's JSON, iss, then exp, nbf and iat.
func (c *Client) verifyJWS(ctx context.Context, raw string) (*jwt, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, rejectf(ReasonMalformed, "want a compact JWS of 3 parts, got %d", len(parts))
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, &Error{Reason: ReasonMalformed, Msg: "header is not unpadded base64url", Err: err}
	}
	var h header
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, &Error{Reason: ReasonMalformed, Msg: "header is not JSON", Err: err}
	}
	switch {
	case h.Alg != "RS256":
		return nil, rejectf(ReasonAlgorithm, "alg %q; only RS256 is accepted", h.Alg)
	case h.Typ != "JWT":
		return nil, rejectf(ReasonHeader, "typ %q, want JWT", h.Typ)
	case h.Kid == "":
		return nil, rejectf(ReasonHeader, "no kid")
	case h.Jku != c.issuer+"/certs":
		return nil, rejectf(ReasonKeyURL, "jku %q, want %q", h.Jku, c.issuer+"/certs")
	}
	key, err := c.key(ctx, h.Kid)
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify([]byte(raw), jws.WithKey(jwa.RS256(), key))
	if err != nil {
		return nil, &Error{Reason: ReasonSignature, Msg: "RS256 signature does not verify with key " + h.Kid, Err: err}
	}
	t, err := parseRegistered(payload)
	if err != nil {
		return nil, err
	}
	t.raw, t.kid = raw, h.Kid
	if err := c.checkIssuerAndTime(t); err != nil {
		return nil, err
	}
	return t, nil
}

// parseRegistered decodes the payload and its registered claims.
func parseRegistered(payload []byte) (*jwt, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, &Error{Reason: ReasonMalformed, Msg: "payload is not a JSON object", Err: err}
	}
	t := &jwt{claims: m}
	var err error
	if t.iss, err = t.claims.str("iss", true); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		name     string
		dst      *time.Time
		required bool
	}{{"exp", &t.exp, true}, {"nbf", &t.nbf, false}, {"iat", &t.iat, false}} {
		v, ok, err := t.claims.num(c.name, c.required, math.MaxInt64)
		if err != nil {
			return nil, err
		}
		if ok {
			*c.dst = time.Unix(v, 0)
		}
	}
	return t, nil
}

// checkIssuerAndTime pins iss to the configured issuer and checks exp, nbf and
// iat with the allowed clock skew.
func (c *Client) checkIssuerAndTime(t *jwt) error {
	now := c.now()
	if t.iss != c.issuer {
		return rejectf(ReasonIssuer, "iss %q, want %q", t.iss, c.issuer)
	}
	if !now.Before(t.exp.Add(c.skew)) {
		return rejectf(ReasonExpired, "expired at %s", t.exp.UTC().Format(time.RFC3339))
	}
	if !t.nbf.IsZero() && now.Add(c.skew).Before(t.nbf) {
		return rejectf(ReasonNotYetValid, "not valid before %s", t.nbf.UTC().Format(time.RFC3339))
	}
	if !t.iat.IsZero() && now.Add(c.skew).Before(t.iat) {
		return rejectf(ReasonNotYetValid, "issued in the future (%s)", t.iat.UTC().Format(time.RFC3339))
	}
	return nil
}

// attestationType checks x-ms-attestation-type: a token for another TEE is
// refused with ReasonTEEKind.
func (t *jwt) attestationType(want string) error {
	got, err := t.claims.str("x-ms-attestation-type", true)
	if err != nil {
		return err
	}
	if got != want {
		return rejectf(ReasonTEEKind, "x-ms-attestation-type %q, want %q", got, want)
	}
	return nil
}

// claimReader reads claims with the JSON types MAA gives them; a claim of
// another type, or a required one missing, is ReasonMalformed naming it.
type claimReader map[string]any

func malformed(name, want string) error {
	return rejectf(ReasonMalformed, "claim %s: want %s", name, want)
}

func (m claimReader) str(name string, required bool) (string, error) {
	v, ok := m[name]
	if !ok {
		if required {
			return "", malformed(name, "a string (missing)")
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", malformed(name, "a string")
	}
	return s, nil
}

// num reads a non-negative integer of at most max; ok is false when the
// claim is absent.
func (m claimReader) num(name string, required bool, max float64) (n int64, ok bool, err error) {
	v, present := m[name]
	if !present {
		if required {
			return 0, false, malformed(name, "an integer (missing)")
		}
		return 0, false, nil
	}
	jn, isNum := v.(json.Number)
	if !isNum {
		return 0, false, malformed(name, "an integer")
	}
	i, err := jn.Int64()
	if err != nil || i < 0 || float64(i) > max {
		return 0, false, malformed(name, "an integer in range")
	}
	return i, true, nil
}

func (m claimReader) boolean(name string, required bool) (bool, error) {
	v, ok := m[name]
	if !ok {
		if required {
			return false, malformed(name, "a boolean (missing)")
		}
		return false, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, malformed(name, "a boolean")
	}
	return b, nil
}

// hexN reads a required claim of n bytes of hex and returns it in lowercase.
func (m claimReader) hexN(name string, n int) (string, error) {
	s, err := m.str(name, true)
	if err != nil {
		return "", err
	}
	if b, herr := hex.DecodeString(s); herr != nil || len(b) != n {
		return "", malformed(name, fmt.Sprintf("%d bytes of hex", n))
	}
	return strings.ToLower(s), nil
}

// b64 reads an optional unpadded base64url claim; nil when absent.
func (m claimReader) b64(name string) ([]byte, error) {
	s, err := m.str(name, false)
	if err != nil || s == "" {
		return nil, err
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, malformed(name, "unpadded base64url")
	}
	return b, nil
}

// strs reads an optional array of strings; nil when absent.
func (m claimReader) strs(name string) ([]string, error) {
	v, ok := m[name]
	if !ok {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, malformed(name, "an array of strings")
	}
	var out []string
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, malformed(name, "an array of strings")
		}
		out = append(out, s)
	}
	return out, nil
}
