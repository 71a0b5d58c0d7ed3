package attestd

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"
)

// policyJWS is a decoded policy-management body (MAA StoredAttestationPolicy):
// the JWS that PUT /policies/{type} and POST /policies/{type}:reset carry.
type policyJWS struct {
	// Compact is the JWS as received after trimming and JSON-unquoting; the
	// x-ms-policy-token-hash is over these bytes.
	Compact string
	// Alg is the header alg: "none" or a signature algorithm.
	Alg string
	// Signer is the verified x5c[0] certificate of a signed JWS; nil for alg none.
	Signer *x509.Certificate
	// HasPolicy says whether the payload carried AttestationPolicy; Text is
	// the policy text then.
	HasPolicy bool
	Text      string
	// Payload is the decoded JWS payload (empty for a policy reset).
	Payload []byte
}

// policySigningAlgs are the algorithms accepted for signed policies (MAA
// clients produce RS256 or ES256), with their hash.
var policySigningAlgs = map[string]crypto.Hash{
	"RS256": crypto.SHA256, "RS384": crypto.SHA384, "RS512": crypto.SHA512,
	"PS256": crypto.SHA256, "PS384": crypto.SHA384, "PS512": crypto.SHA512,
	"ES256": crypto.SHA256, "ES384": crypto.SHA384,
}

// verifyJWSSignature checks a JWS signature over signingInput. The header
// is verified by hand rather than with a JOSE library because Python's
// header.jwk form ({"kty","x5c"} without n/e) is not a complete JWK.
func verifyJWSSignature(alg string, pub any, signingInput string, sig []byte) error {
	hash := policySigningAlgs[alg]
	hf := hash.New()
	hf.Write([]byte(signingInput))
	digest := hf.Sum(nil)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch alg[:2] {
		case "RS":
			return rsa.VerifyPKCS1v15(k, hash, digest, sig)
		case "PS":
			return rsa.VerifyPSS(k, hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		if alg[:2] != "ES" || len(sig) != 2*size || (alg == "ES256") != (size == 32) {
			return errors.New("ECDSA signature size does not fit the algorithm and key")
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(k, digest, r, s) {
			return errors.New("ECDSA signature invalid")
		}
		return nil
	}
	return fmt.Errorf("alg %s does not fit a %T key", alg, pub)
}

// jwsHeader is the subset of a policy JWS header attestd reads. MAA clients
// put the certificate in x5c; Python GA may put it under jwk.x5c.
type jwsHeader struct {
	Alg string   `json:"alg"`
	X5C []string `json:"x5c"`
	JWK *struct {
		X5C []string `json:"x5c"`
	} `json:"jwk"`
	Crit []string `json:"crit"`
}

// decodePolicyJWS parses a policy body: a compact JWS, raw or as a JSON
// string literal, surrounding whitespace ignored. A signed JWS must carry its
// certificate in x5c (or jwk.x5c) and verify with that certificate's key;
// whether the certificate is trusted is the caller's decision. An unsigned
// one ({"alg":"none"}) must have an empty signature. Errors are 400s.
func decodePolicyJWS(body []byte) (*policyJWS, error) {
	if len(body) > MaxRequestBytes {
		return nil, badRequest("policy body exceeds %d bytes", MaxRequestBytes)
	}
	s := strings.TrimSpace(string(body))
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal([]byte(s), &s); err != nil {
			return nil, badRequest("policy body is a malformed JSON string: %v", err)
		}
		s = strings.TrimSpace(s)
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return nil, badRequest("policy body is not a compact JWS (want 3 dot-separated parts, got %d)", len(parts))
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, badRequest("policy JWS header is not unpadded base64url: %v", err)
	}
	var h jwsHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, badRequest("policy JWS header is not JSON: %v", err)
	}
	if len(h.Crit) > 0 {
		return nil, badRequest("policy JWS header has unsupported crit parameters %q", h.Crit)
	}
	out := &policyJWS{Compact: s, Alg: h.Alg}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, badRequest("policy JWS payload is not unpadded base64url: %v", err)
	}
	switch {
	case h.Alg == "none":
		if parts[2] != "" {
			return nil, badRequest("policy JWS with alg none must have an empty signature")
		}
	case policySigningAlgs[h.Alg] != 0:
		x5c := h.X5C
		if len(x5c) == 0 && h.JWK != nil {
			x5c = h.JWK.X5C
		}
		if len(x5c) == 0 {
			return nil, badRequest("signed policy JWS has no x5c certificate in its header")
		}
		der, err := base64.StdEncoding.DecodeString(x5c[0])
		if err != nil {
			return nil, badRequest("policy JWS x5c[0] is not standard base64: %v", err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, badRequest("policy JWS x5c[0] is not a certificate: %v", err)
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			return nil, badRequest("policy JWS signature is not unpadded base64url")
		}
		if err := verifyJWSSignature(h.Alg, c.PublicKey, parts[0]+"."+parts[1], sig); err != nil {
			return nil, badRequest("policy JWS signature does not verify with its x5c certificate")
		}
		out.Signer = c
	case h.Alg == "":
		return nil, badRequest("policy JWS header has no alg")
	default:
		return nil, badRequest("policy JWS alg %q is not supported (want RS256, ES256, ... or none)", h.Alg)
	}
	out.Payload = payload
	if len(bytes.TrimSpace(payload)) == 0 {
		return out, nil // reset bodies have an empty payload
	}
	var p struct {
		AttestationPolicy *string `json:"AttestationPolicy"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, badRequest("policy JWS payload is not a JSON object: %v", err)
	}
	if p.AttestationPolicy != nil {
		out.HasPolicy = true
		out.Text = decodePolicyText(*p.AttestationPolicy)
	}
	return out, nil
}

// decodePolicyText returns the policy text of an AttestationPolicy value:
// base64url of the text (GA clients), or the plain text (preview clients).
// A value that decodes to UTF-8 starting with "version" is the encoded form.
func decodePolicyText(v string) string {
	if b, err := DecodeBase64("AttestationPolicy", v); err == nil && utf8.Valid(b) &&
		strings.HasPrefix(strings.ToLower(strings.TrimSpace(string(b))), "version") {
		return string(b)
	}
	return v
}

// unsignedPolicyJWS returns the unsigned StoredAttestationPolicy JWS of a
// policy text, as MAA returns for the default policy: {"alg":"none"} and
// {"AttestationPolicy": base64url(text)} with an empty signature. It is a
// policy document, not a token.
func unsignedPolicyJWS(text string) string {
	payload, _ := json.Marshal(map[string]string{"AttestationPolicy": base64.RawURLEncoding.EncodeToString([]byte(text))})
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
}

// policySignerJWK is the x-ms-policy-signer claim: the signing certificate as a JWK.
func policySignerJWK(c *x509.Certificate) map[string]any {
	kty := "RSA"
	if c.PublicKeyAlgorithm == x509.ECDSA {
		kty = "EC"
	}
	return map[string]any{"kty": kty, "x5c": []string{base64.StdEncoding.EncodeToString(c.Raw)}}
}

// String describes the JWS for audit details.
func (p *policyJWS) String() string {
	if p.Signer != nil {
		return fmt.Sprintf("%s signed by %q", p.Alg, p.Signer.Subject.String())
	}
	return "unsigned"
}
