package attestd

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/lestrrat-go/jwx/v3/cert"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// Files of the token-signing key in the data directory.
const (
	SigningKeyFile  = "signing-key.pem"  // PKCS#8 RSA-2048 private key, mode 0600
	SigningCertFile = "signing-cert.pem" // self-signed certificate, Subject = Issuer = CN=<issuer>
	// RetiredSigningCertsFile holds the certificates of rotated-out keys
	// (not the keys), each with a "Retired-At" PEM header. They stay in
	// /certs for retiredKeyPublishedFor, so that tokens they signed still
	// verify until they expire.
	RetiredSigningCertsFile = "retired-signing-certs.pem"
	// NextSigningKeyFile and NextSigningCertFile are the key the next
	// rotation switches to. Its certificate is published in /certs ahead of
	// use, so relying parties that cache /certs know it before it signs.
	NextSigningKeyFile  = "next-signing-key.pem"
	NextSigningCertFile = "next-signing-cert.pem"
)

// retiredKeyPublishedFor is how long a rotated-out key stays in /certs: the
// lifetime of the longest token it can have signed, plus an hour for clock
// skew and caches.
const retiredKeyPublishedFor = attestTokenLifetime + time.Hour

// retiredCert is a rotated-out signing certificate.
type retiredCert struct {
	cert      *x509.Certificate
	retiredAt time.Time
}

// signingKeyBits is fixed: MAA clients expect RS256 with RSA-2048.
const signingKeyBits = 2048

// signingCertLifetime is the validity of the self-signed signing certificate;
// it is renewed (same key, same kid) when less than a quarter remains.
const signingCertLifetime = 4 * 365 * 24 * time.Hour

// SigningKey signs attestd's tokens: RS256 with an RSA-2048 key whose
// self-signed certificate (Subject = Issuer = CN=<issuer>) is published in
// /certs under a stable kid. It is safe for concurrent use.
type SigningKey struct {
	key     *rsa.PrivateKey
	cert    *x509.Certificate
	kid     string
	issuer  string
	jwks    []byte // the /certs body
	jku     string
	created bool
	// next is the key the next rotation switches to (published, unused);
	// nil for a key made by NewSigningKey.
	next *keyPair
	// retired are rotated-out certificates still published in /certs.
	retired []retiredCert
	// stored and version are what the key set was loaded from or last
	// written as (see keyStore); nil and "" for a key made by NewSigningKey.
	stored  keyBlobs
	version string
}

// keyPair is a signing key and its self-signed certificate.
type keyPair struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

// keyIDFor returns the kid of a public key: standard base64 of SHA-256 of
// its SubjectPublicKeyInfo (44 characters, like MAA's kids). It is stable
// across certificate renewals.
func keyIDFor(pub *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// NewSigningKey wraps key for issuer (the public base URL, = iss) and
// creates its self-signed certificate valid from now.
func NewSigningKey(key *rsa.PrivateKey, issuer string, now time.Time) (*SigningKey, error) {
	if key.N.BitLen() != signingKeyBits {
		return nil, fmt.Errorf("attestd: signing key: RSA-%d, want RSA-%d", key.N.BitLen(), signingKeyBits)
	}
	c, err := selfSignedSigningCert(key, issuer, now)
	if err != nil {
		return nil, err
	}
	return newSigningKey(key, c, issuer, nil)
}

func newSigningKey(key *rsa.PrivateKey, c *x509.Certificate, issuer string, next *keyPair, retired ...retiredCert) (*SigningKey, error) {
	kid, err := keyIDFor(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("attestd: signing key: %w", err)
	}
	k := &SigningKey{key: key, cert: c, kid: kid, issuer: issuer, jku: issuer + "/certs", next: next, retired: retired}
	certs := []*x509.Certificate{c}
	if next != nil {
		certs = append(certs, next.cert)
	}
	for _, r := range retired {
		certs = append(certs, r.cert)
	}
	if k.jwks, err = renderJWKS(certs); err != nil {
		return nil, err
	}
	return k, nil
}

func selfSignedSigningCert(key *rsa.PrivateKey, issuer string, now time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	name := pkix.Name{CommonName: issuer}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               name,
		Issuer:                name,
		NotBefore:             now.Add(-time.Hour).UTC(),
		NotAfter:              now.Add(signingCertLifetime).UTC(),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true, // self-signed: its own issuer
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("attestd: signing certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// NextKeyID returns the kid of the key the next rotation puts in use ("" if
// there is none).
func (k *SigningKey) NextKeyID() string {
	if k.next == nil {
		return ""
	}
	kid, _ := keyIDFor(&k.next.key.PublicKey)
	return kid
}

// RetiredKeyIDs returns the kids of the rotated-out keys still in /certs.
func (k *SigningKey) RetiredKeyIDs() []string {
	var out []string
	for _, r := range k.retired {
		if kid, err := keyIDFor(r.cert.PublicKey.(*rsa.PublicKey)); err == nil {
			out = append(out, kid)
		}
	}
	return out
}

func parseRSAKeyPEM(b []byte) (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	var k any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", blk.Type)
	}
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%T is not an RSA key", k)
	}
	return rk, nil
}

// KeyID returns the kid of the key.
func (k *SigningKey) KeyID() string { return k.kid }

// Certificate returns the self-signed signing certificate.
func (k *SigningKey) Certificate() *x509.Certificate { return k.cert }

// Issuer returns the iss the key signs for.
func (k *SigningKey) Issuer() string { return k.issuer }

// Created reports whether LoadOrCreateSigningKey generated the key.
func (k *SigningKey) Created() bool { return k.created }

// JWKS returns the /certs body: a JWK set with kty, kid, x5c (standard
// base64 DER), n, e, alg RS256 and use sig.
func (k *SigningKey) JWKS() []byte { return k.jwks }

// renderJWKS renders the /certs body for certs (the key in use first). A
// key that appears twice (a crash during rotation) is listed once.
func renderJWKS(certs []*x509.Certificate) ([]byte, error) {
	set := jwk.NewSet()
	seen := map[string]bool{}
	for _, c := range certs {
		pub, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("attestd: JWK: %T is not an RSA key", c.PublicKey)
		}
		kid, err := keyIDFor(pub)
		if err != nil {
			return nil, err
		}
		if seen[kid] {
			continue
		}
		seen[kid] = true
		jk, err := jwk.Import(pub)
		if err != nil {
			return nil, fmt.Errorf("attestd: JWK: %w", err)
		}
		var chain cert.Chain
		if err := chain.AddString(base64.StdEncoding.EncodeToString(c.Raw)); err != nil {
			return nil, fmt.Errorf("attestd: JWK x5c: %w", err)
		}
		for name, v := range map[string]any{
			jwk.KeyIDKey: kid, jwk.AlgorithmKey: jwa.RS256(), jwk.KeyUsageKey: jwk.ForSignature, jwk.X509CertChainKey: &chain,
		} {
			if err := jk.Set(name, v); err != nil {
				return nil, fmt.Errorf("attestd: JWK %s: %w", name, err)
			}
		}
		if err := set.AddKey(jk); err != nil {
			return nil, err
		}
	}
	raw, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	// Re-encode compactly: jwx's key encoder emits spaces after colons.
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// Sign returns a compact JWS of claims with the header exactly
// {"alg":"RS256","jku":"<iss>/certs","kid":"<kid>","typ":"JWT"}.
func (k *SigningKey) Sign(claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("attestd: token claims: %w", err)
	}
	h := jws.NewHeaders()
	for name, v := range map[string]any{jws.JWKSetURLKey: k.jku, jws.KeyIDKey: k.kid, jws.TypeKey: "JWT"} {
		if err := h.Set(name, v); err != nil {
			return "", err
		}
	}
	tok, err := jws.Sign(payload, jws.WithKey(jwa.RS256(), k.key, jws.WithProtectedHeaders(h)))
	if err != nil {
		return "", fmt.Errorf("attestd: signing token: %w", err)
	}
	return string(tok), nil
}

// UnsecuredToken returns an unsigned JWS ({"alg":"none"}, empty signature)
// of claims. attestd emits it only for draft-policy attestation, as MAA does:
// such a token proves nothing.
func UnsecuredToken(claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("attestd: token claims: %w", err)
	}
	tok, err := jws.Sign(payload, jws.WithInsecureNoSignature())
	if err != nil {
		return "", fmt.Errorf("attestd: unsecured token: %w", err)
	}
	return string(tok), nil
}
