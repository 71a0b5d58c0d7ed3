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
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
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
	// /certs for RetiredKeyPublishedFor, so that tokens they signed still
	// verify until they expire.
	RetiredSigningCertsFile = "retired-signing-certs.pem"
	// NextSigningKeyFile and NextSigningCertFile are the key the next
	// rotation switches to. Its certificate is published in /certs ahead of
	// use, so relying parties that cache /certs know it before it signs.
	NextSigningKeyFile  = "next-signing-key.pem"
	NextSigningCertFile = "next-signing-cert.pem"
)

// RetiredKeyPublishedFor is how long a rotated-out key stays in /certs: the
// lifetime of the longest token it can have signed, plus an hour for clock
// skew and caches.
const RetiredKeyPublishedFor = attestTokenLifetime + time.Hour

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
}

// keyPair is a signing key and its self-signed certificate.
type keyPair struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

// KeyIDFor returns the kid of a public key: standard base64 of SHA-256 of
// its SubjectPublicKeyInfo (44 characters, like MAA's kids). It is stable
// across certificate renewals.
func KeyIDFor(pub *rsa.PublicKey) (string, error) {
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
	kid, err := KeyIDFor(&key.PublicKey)
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

// LoadOrCreateSigningKey loads the signing key from dir, or generates and
// persists one (key 0600) on first start; likewise the next key, which is
// published in /certs until a rotation puts it in use. A certificate is
// re-issued for the same key when the issuer changed or it is near expiry.
// Created reports whether a new current key was generated.
func LoadOrCreateSigningKey(dir, issuer string, now time.Time) (*SigningKey, error) {
	cur, created, err := loadOrCreateKeyPair(filepath.Join(dir, SigningKeyFile), filepath.Join(dir, SigningCertFile), issuer, now)
	if err != nil {
		return nil, err
	}
	nextKey, nextCert := filepath.Join(dir, NextSigningKeyFile), filepath.Join(dir, NextSigningCertFile)
	next, _, err := loadOrCreateKeyPair(nextKey, nextCert, issuer, now)
	if err != nil {
		return nil, err
	}
	if next.key.Equal(cur.key) {
		// A crash after a rotation promoted the next key but before it wrote
		// a new one: make it now.
		if err := os.Remove(nextKey); err != nil {
			return nil, err
		}
		if next, _, err = loadOrCreateKeyPair(nextKey, nextCert, issuer, now); err != nil {
			return nil, err
		}
	}
	retired, err := loadRetiredCerts(filepath.Join(dir, RetiredSigningCertsFile), now)
	if err != nil {
		return nil, err
	}
	k, err := newSigningKey(cur.key, cur.cert, issuer, next, retired...)
	if err != nil {
		return nil, err
	}
	k.created = created
	return k, nil
}

// loadOrCreateKeyPair loads the RSA-2048 key at keyPath (generating and
// saving one if there is none) and its usable certificate at certPath
// (issuing and saving one if needed).
func loadOrCreateKeyPair(keyPath, certPath, issuer string, now time.Time) (*keyPair, bool, error) {
	keyPEM, err := os.ReadFile(keyPath)
	created := false
	var key *rsa.PrivateKey
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if key, err = rsa.GenerateKey(rand.Reader, signingKeyBits); err != nil {
			return nil, false, fmt.Errorf("attestd: generating signing key: %w", err)
		}
		if err := saveKey(keyPath, key); err != nil {
			return nil, false, err
		}
		created = true
	case err != nil:
		return nil, false, fmt.Errorf("attestd: reading signing key: %w", err)
	default:
		if key, err = parseRSAKeyPEM(keyPEM); err != nil {
			return nil, false, fmt.Errorf("attestd: %s: %w", keyPath, err)
		}
		if key.N.BitLen() != signingKeyBits {
			return nil, false, fmt.Errorf("attestd: %s: RSA-%d, want RSA-%d", keyPath, key.N.BitLen(), signingKeyBits)
		}
	}
	c := loadUsableCert(certPath, key, issuer, now)
	if c == nil {
		if c, err = selfSignedSigningCert(key, issuer, now); err != nil {
			return nil, false, err
		}
		if err := saveCert(certPath, c); err != nil {
			return nil, false, err
		}
	}
	return &keyPair{key: key, cert: c}, created, nil
}

func saveKey(path string, key *rsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("attestd: saving signing key: %w", err)
	}
	return nil
}

func saveCert(path string, c *x509.Certificate) error {
	if err := writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644); err != nil {
		return fmt.Errorf("attestd: saving signing certificate: %w", err)
	}
	return nil
}

// loadRetiredCerts reads the retired certificates still to be published at
// now. A missing file means none.
func loadRetiredCerts(path string, now time.Time) ([]retiredCert, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("attestd: reading retired signing certificates: %w", err)
	}
	var out []retiredCert
	for n := 1; ; n++ {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		at, err := time.Parse(time.RFC3339, blk.Headers["Retired-At"])
		if blk.Type != "CERTIFICATE" || err != nil {
			return nil, fmt.Errorf("attestd: %s: block %d is not a CERTIFICATE with a Retired-At header", path, n)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("attestd: %s: block %d: %w", path, n, err)
		}
		if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("attestd: %s: block %d: not an RSA certificate", path, n)
		}
		if now.Before(at.Add(RetiredKeyPublishedFor)) {
			out = append(out, retiredCert{cert: c, retiredAt: at})
		}
	}
	if len(bytes.TrimSpace(b)) != 0 {
		return nil, fmt.Errorf("attestd: %s: trailing data that is not PEM", path)
	}
	return out, nil
}

// RotateSigningKey puts the next key (published in /certs since the last
// start or rotation) in use in place of cur, makes and publishes a new next
// key, and keeps cur's certificate in /certs for RetiredKeyPublishedFor.
// cur's private key is overwritten on disk. Without a next key (a key made
// by NewSigningKey) a fresh key is used at once. The steps are ordered so
// that a crash leaves either the old key or the new one in use, and
// LoadOrCreateSigningKey repairs the rest. When a step after the new key was
// written fails, it returns both the new key (the one a restart loads, which
// the caller must sign with) and the error.
func RotateSigningKey(dir string, cur *SigningKey, now time.Time) (*SigningKey, error) {
	retired := []retiredCert{{cert: cur.cert, retiredAt: now}}
	for _, r := range cur.retired {
		if now.Before(r.retiredAt.Add(RetiredKeyPublishedFor)) && !bytes.Equal(r.cert.Raw, cur.cert.Raw) {
			retired = append(retired, r)
		}
	}
	var buf bytes.Buffer
	for _, r := range retired {
		blk := &pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"Retired-At": r.retiredAt.UTC().Format(time.RFC3339)}, Bytes: r.cert.Raw}
		if err := pem.Encode(&buf, blk); err != nil {
			return nil, err
		}
	}
	fresh := func() (*keyPair, error) {
		key, err := rsa.GenerateKey(rand.Reader, signingKeyBits)
		if err != nil {
			return nil, fmt.Errorf("attestd: generating signing key: %w", err)
		}
		c, err := selfSignedSigningCert(key, cur.issuer, now)
		if err != nil {
			return nil, err
		}
		return &keyPair{key: key, cert: c}, nil
	}
	in := cur.next
	if in == nil {
		var err error
		if in, err = fresh(); err != nil {
			return nil, err
		}
	}
	next, err := fresh()
	if err != nil {
		return nil, err
	}
	// 1. Publish the old certificate as retired. 2. Put the next key in use
	// (LoadOrCreateSigningKey re-issues a certificate that does not match).
	// 3. Write the new next key.
	if err := writeFileAtomic(filepath.Join(dir, RetiredSigningCertsFile), buf.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("attestd: saving retired signing certificates: %w", err)
	}
	if err := saveKey(filepath.Join(dir, SigningKeyFile), in.key); err != nil {
		return nil, err // nothing is in use that was not before
	}
	// From here the new key is the one on disk: it is returned even when a
	// later step fails, so that the caller signs with what a restart loads.
	k, err := newSigningKey(in.key, in.cert, cur.issuer, next, retired...)
	if err != nil {
		return nil, err
	}
	if err := saveCert(filepath.Join(dir, SigningCertFile), in.cert); err != nil {
		return k, err
	}
	if err := saveKey(filepath.Join(dir, NextSigningKeyFile), next.key); err != nil {
		return k, err
	}
	if err := saveCert(filepath.Join(dir, NextSigningCertFile), next.cert); err != nil {
		return k, err
	}
	return k, nil
}

// NextKeyID returns the kid of the key the next rotation puts in use ("" if
// there is none).
func (k *SigningKey) NextKeyID() string {
	if k.next == nil {
		return ""
	}
	kid, _ := KeyIDFor(&k.next.key.PublicKey)
	return kid
}

// RetiredKeyIDs returns the kids of the rotated-out keys still in /certs.
func (k *SigningKey) RetiredKeyIDs() []string {
	var out []string
	for _, r := range k.retired {
		if kid, err := KeyIDFor(r.cert.PublicKey.(*rsa.PublicKey)); err == nil {
			out = append(out, kid)
		}
	}
	return out
}

// loadUsableCert returns the stored certificate if it is for key and issuer
// and has more than a quarter of its lifetime left; nil otherwise.
func loadUsableCert(path string, key *rsa.PrivateKey, issuer string, now time.Time) *x509.Certificate {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil
	}
	pub, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) || c.Subject.String() != c.Issuer.String() ||
		c.Subject.CommonName != issuer || len(c.Subject.Names) != 1 {
		return nil
	}
	if now.Add(signingCertLifetime / 4).After(c.NotAfter) {
		return nil
	}
	return c
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

// writeFileAtomic writes b to path through a synced temporary file and a
// rename, so a crash leaves either the old or the new content.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
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
		kid, err := KeyIDFor(pub)
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
