package maaclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Expectations is what the relying party requires of a token. The zero value
// rejects every token: at least one identity (MREnclave, MRSigner or App)
// must be named, or AnyIdentity set.
type Expectations struct {
	// MREnclave lists accepted MRENCLAVEs (hex, any case). Empty: not checked.
	MREnclave []string
	// MRSigner (hex) with ProductID and MinSVN pins the enclave author.
	// Empty: not checked.
	MRSigner  string
	ProductID uint16
	MinSVN    uint16
	// App requires x-sgxops-app to equal it (the service matched a release of
	// that app); Releases, if set, lists the acceptable release names.
	App      string
	Releases []string
	// AnyIdentity accepts any enclave identity. Use it only when the identity
	// is checked otherwise (e.g. by the service's policy, trusted for that).
	AnyIdentity bool
	// AllowCandidate accepts a token for a candidate release (x-sgxops-
	// release-state "candidate"): only a rollout's test should. False:
	// rejected.
	AllowCandidate bool
	// AllowDebug accepts debug enclaves. False: rejected.
	AllowDebug bool
	// AllowSimulated accepts tokens for evidence from the simulated platform
	// (x-sgxops-simulated true). False: rejected.
	AllowSimulated bool
	// RuntimeData, when non-nil, must be bound by the token:
	// report_data[0:32] == SHA-256(RuntimeData), and x-ms-sgx-ehd (if present)
	// equals it.
	RuntimeData []byte
	// Nonce, when non-empty, must equal the nonce claim.
	Nonce string
}

// Token is a verified attestation token.
type Token struct {
	Raw    string
	Claims map[string]any

	Issuer    string
	IssuedAt  time.Time
	NotBefore time.Time
	Expiry    time.Time
	KeyID     string

	MREnclave  string // lowercase hex
	MRSigner   string // lowercase hex
	ProductID  uint16
	SVN        uint16
	Debug      bool
	ReportData []byte // 64 bytes
	// EnclaveHeldData is x-ms-sgx-ehd (runtime data sent as Binary), nil if absent.
	EnclaveHeldData []byte

	// sgxops claims; empty for tokens of other MAA services.
	App          string
	Release      string
	ReleaseState string
	TCBStatus    string
	AdvisoryIDs  []string
	Simulated    bool
}

type header struct {
	Alg string `json:"alg"`
	Jku string `json:"jku"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// Verify checks a token from the pinned issuer against exp; see the package
// documentation for the checks. Errors are *Error.
func (c *Client) Verify(ctx context.Context, raw string, exp Expectations) (*Token, error) {
	if len(exp.MREnclave) == 0 && exp.MRSigner == "" && exp.App == "" && !exp.AnyIdentity {
		return nil, rejectf(ReasonNoExpectation, "name an MREnclave, MRSigner or App to expect (or set AnyIdentity)")
	}
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
	t, err := c.parseClaims(raw, payload)
	if err != nil {
		return nil, err
	}
	t.KeyID = h.Kid
	if err := c.checkTime(t); err != nil {
		return nil, err
	}
	if err := checkExpectations(t, exp); err != nil {
		return nil, err
	}
	return t, nil
}

func (c *Client) checkTime(t *Token) error {
	now := c.now()
	if t.Issuer != c.issuer {
		return rejectf(ReasonIssuer, "iss %q, want %q", t.Issuer, c.issuer)
	}
	if !now.Before(t.Expiry.Add(c.skew)) {
		return rejectf(ReasonExpired, "expired at %s", t.Expiry.UTC().Format(time.RFC3339))
	}
	if !t.NotBefore.IsZero() && now.Add(c.skew).Before(t.NotBefore) {
		return rejectf(ReasonNotYetValid, "not valid before %s", t.NotBefore.UTC().Format(time.RFC3339))
	}
	if !t.IssuedAt.IsZero() && now.Add(c.skew).Before(t.IssuedAt) {
		return rejectf(ReasonNotYetValid, "issued in the future (%s)", t.IssuedAt.UTC().Format(time.RFC3339))
	}
	return nil
}

func checkExpectations(t *Token, exp Expectations) error {
	if t.Debug && !exp.AllowDebug {
		return rejectf(ReasonDebug, "the enclave is debuggable (its memory is readable by the host)")
	}
	if t.Simulated && !exp.AllowSimulated {
		return rejectf(ReasonSimulated, "the evidence came from the SIMULATED platform")
	}
	if exp.RuntimeData != nil {
		sum := sha256.Sum256(exp.RuntimeData)
		if !bytes.Equal(t.ReportData[:32], sum[:]) {
			return rejectf(ReasonRuntimeData, "report_data[0:32] = %x is not SHA-256(runtime data) = %x", t.ReportData[:32], sum[:])
		}
		if t.EnclaveHeldData != nil && !bytes.Equal(t.EnclaveHeldData, exp.RuntimeData) {
			return rejectf(ReasonRuntimeData, "x-ms-sgx-ehd differs from the runtime data")
		}
	}
	if len(exp.MREnclave) > 0 && !slices.ContainsFunc(exp.MREnclave, func(m string) bool { return strings.EqualFold(m, t.MREnclave) }) {
		return rejectf(ReasonMeasurement, "MRENCLAVE %s is not expected", t.MREnclave)
	}
	if exp.MRSigner != "" {
		switch {
		case !strings.EqualFold(exp.MRSigner, t.MRSigner):
			return rejectf(ReasonMeasurement, "MRSIGNER %s is not expected", t.MRSigner)
		case t.ProductID != exp.ProductID:
			return rejectf(ReasonMeasurement, "ISVPRODID %d, want %d", t.ProductID, exp.ProductID)
		case t.SVN < exp.MinSVN:
			return rejectf(ReasonMeasurement, "ISVSVN %d is below %d", t.SVN, exp.MinSVN)
		}
	}
	if exp.App != "" && t.App != exp.App {
		return rejectf(ReasonRelease, "app %q, want %q", t.App, exp.App)
	}
	if t.ReleaseState == "candidate" && !exp.AllowCandidate {
		return rejectf(ReasonRelease, "release %s/%s is a candidate, accepted only for a rollout's test", t.App, t.Release)
	}
	if len(exp.Releases) > 0 && !slices.Contains(exp.Releases, t.Release) {
		return rejectf(ReasonRelease, "release %q is not among %q", t.Release, exp.Releases)
	}
	if exp.Nonce != "" && claimString(t.Claims, "nonce") != exp.Nonce {
		return rejectf(ReasonNonce, "nonce claim %q, want %q", claimString(t.Claims, "nonce"), exp.Nonce)
	}
	return nil
}

func claimString(c map[string]any, k string) string {
	s, _ := c[k].(string)
	return s
}

// parseClaims decodes the payload and the claims it must carry, with their
// JSON types as MAA defines them.
func (c *Client) parseClaims(raw string, payload []byte) (*Token, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, &Error{Reason: ReasonMalformed, Msg: "payload is not a JSON object", Err: err}
	}
	t := &Token{Raw: raw, Claims: m}
	bad := func(name, want string) error { return rejectf(ReasonMalformed, "claim %s: want %s", name, want) }
	str := func(name string, required bool) (string, error) {
		v, ok := m[name]
		if !ok {
			if required {
				return "", bad(name, "a string (missing)")
			}
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", bad(name, "a string")
		}
		return s, nil
	}
	num := func(name string, required bool, max float64) (int64, bool, error) {
		v, ok := m[name]
		if !ok {
			if required {
				return 0, false, bad(name, "an integer (missing)")
			}
			return 0, false, nil
		}
		n, ok := v.(json.Number)
		if !ok {
			return 0, false, bad(name, "an integer")
		}
		i, err := n.Int64()
		if err != nil || i < 0 || float64(i) > max {
			return 0, false, bad(name, "an integer in range")
		}
		return i, true, nil
	}
	var err error
	if t.Issuer, err = str("iss", true); err != nil {
		return nil, err
	}
	exp, _, err := num("exp", true, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	t.Expiry = time.Unix(exp, 0)
	if v, ok, err := num("nbf", false, math.MaxInt64); err != nil {
		return nil, err
	} else if ok {
		t.NotBefore = time.Unix(v, 0)
	}
	if v, ok, err := num("iat", false, math.MaxInt64); err != nil {
		return nil, err
	} else if ok {
		t.IssuedAt = time.Unix(v, 0)
	}
	if v, _ := str("x-ms-attestation-type", true); v != "sgx" {
		return nil, bad("x-ms-attestation-type", `"sgx"`)
	}
	hex32 := func(name string) (string, error) {
		s, err := str(name, true)
		if err != nil {
			return "", err
		}
		b, herr := hex.DecodeString(s)
		if herr != nil || len(b) != 32 {
			return "", bad(name, "32 bytes of hex")
		}
		return strings.ToLower(s), nil
	}
	if t.MREnclave, err = hex32("x-ms-sgx-mrenclave"); err != nil {
		return nil, err
	}
	if t.MRSigner, err = hex32("x-ms-sgx-mrsigner"); err != nil {
		return nil, err
	}
	pid, _, err := num("x-ms-sgx-product-id", true, math.MaxUint16)
	if err != nil {
		return nil, err
	}
	svn, _, err := num("x-ms-sgx-svn", true, math.MaxUint16)
	if err != nil {
		return nil, err
	}
	t.ProductID, t.SVN = uint16(pid), uint16(svn)
	dbg, ok := m["x-ms-sgx-is-debuggable"].(bool)
	if !ok {
		return nil, bad("x-ms-sgx-is-debuggable", "a boolean")
	}
	t.Debug = dbg
	rd, err := str("x-ms-sgx-report-data", true)
	if err != nil {
		return nil, err
	}
	if t.ReportData, err = hex.DecodeString(rd); err != nil || len(t.ReportData) != 64 {
		return nil, bad("x-ms-sgx-report-data", "64 bytes of hex")
	}
	if ehd, err := str("x-ms-sgx-ehd", false); err != nil {
		return nil, err
	} else if ehd != "" {
		if t.EnclaveHeldData, err = base64.RawURLEncoding.DecodeString(ehd); err != nil {
			return nil, bad("x-ms-sgx-ehd", "unpadded base64url")
		}
	}
	if v, ok := m["x-sgxops-simulated"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return nil, bad("x-sgxops-simulated", "a boolean")
		}
		t.Simulated = b
	}
	for name, dst := range map[string]*string{"x-sgxops-app": &t.App, "x-sgxops-release": &t.Release,
		"x-sgxops-release-state": &t.ReleaseState, "x-sgxops-tcb-status": &t.TCBStatus} {
		if *dst, err = str(name, false); err != nil {
			return nil, err
		}
	}
	if v, ok := m["x-sgxops-advisory-ids"]; ok {
		arr, isArr := v.([]any)
		if !isArr {
			return nil, bad("x-sgxops-advisory-ids", "an array of strings")
		}
		for _, e := range arr {
			s, isStr := e.(string)
			if !isStr {
				return nil, bad("x-sgxops-advisory-ids", "an array of strings")
			}
			t.AdvisoryIDs = append(t.AdvisoryIDs, s)
		}
	}
	return t, nil
}

// String summarises the token for humans.
func (t *Token) String() string {
	s := fmt.Sprintf("MRENCLAVE %s MRSIGNER %s product %d svn %d debug %v", t.MREnclave, t.MRSigner, t.ProductID, t.SVN, t.Debug)
	if t.Release != "" {
		s += fmt.Sprintf(" release %s/%s (%s)", t.App, t.Release, t.ReleaseState)
	}
	if t.TCBStatus != "" {
		s += " TCB " + t.TCBStatus
	}
	if t.Simulated {
		s += " SIMULATED"
	}
	return s
}
