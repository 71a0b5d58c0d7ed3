package attestd

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sgxops/sgxops/internal/atomicfile"
)

// The signing key set (key in use, next key, retired certificates) is
// persisted as five named blobs: the files of the data directory, or the
// data keys of one Secret shared by replicas, under the same names. The
// logic (generate, repair, rotate) is written once over keyStore; the
// backends only read and write blobs.

// keySetOrder is the order blobs are written in. A backend that writes one
// blob at a time (files) follows it, so that a crash leaves the old key or the
// new one in use: retired certificates first, then the key in use, then the
// next key.
var keySetOrder = []string{RetiredSigningCertsFile, SigningKeyFile, SigningCertFile, NextSigningKeyFile, NextSigningCertFile}

// keyBlobs are the persisted key set by blob name; an absent name is a blob
// that is not stored.
type keyBlobs map[string][]byte

// errKeySetChanged is returned by keyStore.write when the key set changed
// since it was read (another replica wrote it).
var errKeySetChanged = errors.New("attestd: the signing keys were changed by another replica")

// keyStore reads and writes the blobs of the key set.
type keyStore interface {
	// read returns the stored blobs and the version they were read at (""
	// when nothing is stored yet).
	read(ctx context.Context) (keyBlobs, string, error)
	// write stores want over have, which read returned at version: the blobs
	// that differ, in keySetOrder. It returns the names stored (all of them
	// or, on failure, those stored before it) and the new version. When
	// version is stale it fails with errKeySetChanged and stores nothing.
	write(ctx context.Context, want, have keyBlobs, version string) ([]string, string, error)
	// where names a blob in messages (a path, or namespace/secret:key).
	where(name string) string
}

func blobMode(name string) os.FileMode {
	if name == SigningKeyFile || name == NextSigningKeyFile {
		return 0o600
	}
	return 0o644
}

// fileKeyStore keeps the key set in a directory, one file per blob. It has
// no version: one process owns the directory.
type fileKeyStore struct{ dir string }

func (f fileKeyStore) where(name string) string { return filepath.Join(f.dir, name) }

func (f fileKeyStore) read(context.Context) (keyBlobs, string, error) {
	out := keyBlobs{}
	for _, name := range keySetOrder {
		b, err := os.ReadFile(f.where(name))
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, "", fmt.Errorf("attestd: reading %s: %w", f.where(name), err)
		default:
			out[name] = b
		}
	}
	return out, "", nil
}

func (f fileKeyStore) write(_ context.Context, want, have keyBlobs, _ string) ([]string, string, error) {
	var done []string
	for _, name := range keySetOrder {
		b, ok := want[name]
		if !ok || bytes.Equal(b, have[name]) && have[name] != nil {
			continue
		}
		if err := writeFileAtomic(f.where(name), b, blobMode(name)); err != nil {
			return done, "", fmt.Errorf("attestd: saving %s: %w", name, err)
		}
		done = append(done, name)
		rotationStep("stored " + name)
	}
	return done, "", nil
}

// LoadOrCreateSigningKey loads the signing key set from the files in dir,
// generating and saving what is missing (see loadKeySet).
func LoadOrCreateSigningKey(dir, issuer string, now time.Time) (*SigningKey, error) {
	return loadKeySet(context.Background(), fileKeyStore{dir: dir}, issuer, now)
}

// rotateSigningKey rotates the key set kept in the files of dir (see
// rotateKeySet).
func rotateSigningKey(dir string, cur *SigningKey, now time.Time) (*SigningKey, error) {
	return rotateKeySet(context.Background(), fileKeyStore{dir: dir}, cur, now)
}

// loadKeySetRetries bounds how often loadKeySet re-reads after losing a race
// with another replica.
const loadKeySetRetries = 5

// loadKeySet loads the key set from ks, or generates and stores one on
// first start; likewise the next key, which is published in /certs until a
// rotation puts it in use. A certificate is re-issued for the same key when
// the issuer changed or it is near expiry. When another replica stores the
// key set first (or changes it), the write fails and the stored one is
// re-read, so racing replicas end with one key set. Created reports whether
// a new current key was generated and stored by this call.
func loadKeySet(ctx context.Context, ks keyStore, issuer string, now time.Time) (*SigningKey, error) {
	for attempt := 0; ; attempt++ {
		have, version, err := ks.read(ctx)
		if err != nil {
			return nil, err
		}
		k, want, created, err := decodeKeySet(ks, have, issuer, now, true)
		if err != nil {
			return nil, err
		}
		_, newVersion, err := ks.write(ctx, want, have, version)
		if errors.Is(err, errKeySetChanged) && attempt < loadKeySetRetries {
			continue
		}
		if err != nil {
			return nil, err
		}
		k.created, k.stored, k.version = created, want, newVersion
		return k, nil
	}
}

// decodeKeySet builds the signing key from stored blobs and returns it with
// the blobs to store. With generate, missing keys are generated; without, a
// missing key is an error (a replica following another's writes never
// invents keys). Certificates are re-issued as loadPair says. created
// reports a generated key in use.
func decodeKeySet(ks keyStore, have keyBlobs, issuer string, now time.Time, generate bool) (*SigningKey, keyBlobs, bool, error) {
	want := keyBlobs{}
	cur, created, err := loadPair(ks, have, want, SigningKeyFile, SigningCertFile, issuer, now, generate)
	if err != nil {
		return nil, nil, false, err
	}
	next, _, err := loadPair(ks, have, want, NextSigningKeyFile, NextSigningCertFile, issuer, now, generate)
	if err != nil {
		return nil, nil, false, err
	}
	if next.key.Equal(cur.key) {
		// A crash after a rotation promoted the next key but before it
		// stored a new one (files only): make it now.
		delete(want, NextSigningKeyFile)
		if next, _, err = loadPair(ks, keyBlobs{}, want, NextSigningKeyFile, NextSigningCertFile, issuer, now, true); err != nil {
			return nil, nil, false, err
		}
	}
	var retired []retiredCert
	if b, ok := have[RetiredSigningCertsFile]; ok {
		if retired, err = parseRetiredCerts(ks.where(RetiredSigningCertsFile), b, now); err != nil {
			return nil, nil, false, err
		}
		want[RetiredSigningCertsFile] = b
	}
	k, err := newSigningKey(cur.key, cur.cert, issuer, next, retired...)
	if err != nil {
		return nil, nil, false, err
	}
	return k, want, created, nil
}

// loadPair reads the RSA-2048 key blob keyName (generating one if absent and
// generate is set) and its certificate certName, issuing a new certificate
// when the stored one is not usable (see usableCert). It records both blobs
// in want.
func loadPair(ks keyStore, have, want keyBlobs, keyName, certName, issuer string, now time.Time, generate bool) (*keyPair, bool, error) {
	var key *rsa.PrivateKey
	created := false
	keyPEM, ok := have[keyName]
	switch {
	case !ok && !generate:
		return nil, false, fmt.Errorf("attestd: %s is missing", ks.where(keyName))
	case !ok:
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, signingKeyBits); err != nil {
			return nil, false, fmt.Errorf("attestd: generating signing key: %w", err)
		}
		if keyPEM, err = encodeKeyPEM(key); err != nil {
			return nil, false, err
		}
		created = true
	default:
		var err error
		if key, err = parseRSAKeyPEM(keyPEM); err != nil {
			return nil, false, fmt.Errorf("attestd: %s: %w", ks.where(keyName), err)
		}
		if key.N.BitLen() != signingKeyBits {
			return nil, false, fmt.Errorf("attestd: %s: RSA-%d, want RSA-%d", ks.where(keyName), key.N.BitLen(), signingKeyBits)
		}
	}
	want[keyName] = keyPEM
	certPEM := have[certName]
	c := usableCert(certPEM, key, issuer, now)
	if c == nil {
		var err error
		if c, err = selfSignedSigningCert(key, issuer, now); err != nil {
			return nil, false, err
		}
		certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	want[certName] = certPEM
	return &keyPair{key: key, cert: c}, created, nil
}

func encodeKeyPEM(key *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// usableCert returns the stored certificate if it is for key and issuer
// and has more than a quarter of its lifetime left; nil otherwise.
func usableCert(b []byte, key *rsa.PrivateKey, issuer string, now time.Time) *x509.Certificate {
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

// parseRetiredCerts reads the retired certificates still to be published at
// now from b (named where in messages).
func parseRetiredCerts(where string, b []byte, now time.Time) ([]retiredCert, error) {
	var out []retiredCert
	for n := 1; ; n++ {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		at, err := time.Parse(time.RFC3339, blk.Headers["Retired-At"])
		if blk.Type != "CERTIFICATE" || err != nil {
			return nil, fmt.Errorf("attestd: %s: block %d is not a CERTIFICATE with a Retired-At header", where, n)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("attestd: %s: block %d: %w", where, n, err)
		}
		if _, ok := c.PublicKey.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("attestd: %s: block %d: not an RSA certificate", where, n)
		}
		if now.Before(at.Add(retiredKeyPublishedFor)) {
			out = append(out, retiredCert{cert: c, retiredAt: at})
		}
	}
	if len(bytes.TrimSpace(b)) != 0 {
		return nil, fmt.Errorf("attestd: %s: trailing data that is not PEM", where)
	}
	return out, nil
}

// rotateKeySet puts the next key (published in /certs since the last start
// or rotation) in use in place of cur, makes and publishes a new next key,
// and keeps cur's certificate in /certs for retiredKeyPublishedFor:
// prepareRotation, then storeRotation. It writes no audit entry; the admin
// API's rotation does (rotateAudited).
func rotateKeySet(ctx context.Context, ks keyStore, cur *SigningKey, now time.Time) (*SigningKey, error) {
	rot, err := prepareRotation(cur, now)
	if err != nil {
		return nil, err
	}
	return storeRotation(ctx, ks, cur, rot)
}

// keyRotation is a rotation prepared but not stored: the key set it makes
// and the blobs that store it.
type keyRotation struct {
	key  *SigningKey
	want keyBlobs
}

// prepareRotation builds the key set that replaces cur: the next key in use
// (without a next key, a key made by NewSigningKey, a fresh one), a new next
// key, cur's certificate retired. It stores nothing.
func prepareRotation(cur *SigningKey, now time.Time) (*keyRotation, error) {
	retired := []retiredCert{{cert: cur.cert, retiredAt: now}}
	for _, r := range cur.retired {
		if now.Before(r.retiredAt.Add(retiredKeyPublishedFor)) && !bytes.Equal(r.cert.Raw, cur.cert.Raw) {
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
	want := keyBlobs{RetiredSigningCertsFile: buf.Bytes()}
	for _, p := range []struct {
		kp              *keyPair
		keyName, c1Name string
	}{{in, SigningKeyFile, SigningCertFile}, {next, NextSigningKeyFile, NextSigningCertFile}} {
		kb, err := encodeKeyPEM(p.kp.key)
		if err != nil {
			return nil, err
		}
		want[p.keyName] = kb
		want[p.c1Name] = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.kp.cert.Raw})
	}
	k, err := newSigningKey(in.key, in.cert, cur.issuer, next, retired...)
	if err != nil {
		return nil, err
	}
	return &keyRotation{key: k, want: want}, nil
}

// storeRotation stores a prepared rotation of cur. cur's private key is
// overwritten. The blobs are written in keySetOrder, so that with files a
// crash leaves either the old key or the new one in use, and loadKeySet
// repairs the rest. When a blob after the new key failed, it returns both
// the new key (the one a restart loads, which the caller must sign with) and
// the error. When another replica changed the key set since cur was read, it
// fails with errKeySetChanged and changes nothing.
func storeRotation(ctx context.Context, ks keyStore, cur *SigningKey, rot *keyRotation) (*SigningKey, error) {
	done, version, werr := ks.write(ctx, rot.want, cur.stored, cur.version)
	inUse := false
	for _, name := range done {
		inUse = inUse || name == SigningKeyFile
	}
	if !inUse {
		if werr == nil {
			werr = errors.New("attestd: the new signing key was not stored")
		}
		return nil, werr // nothing is in use that was not before
	}
	// From here the new key is the stored one: it is returned even when a
	// later blob failed, so that the caller signs with what a restart loads.
	k := *rot.key
	k.stored, k.version = rot.want, version
	return &k, werr
}

// writeFileAtomic is the module's one atomic-write helper (a crash leaves
// either the old or the new content).
var writeFileAtomic = atomicfile.Write
