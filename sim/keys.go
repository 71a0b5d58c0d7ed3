package sim

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// The simulator needs byte-identical output for a given seed, and Go's ECDSA
// (since 1.20 for key generation, since 1.26 for signing) ignores the caller's
// random source. So keys are derived from the seed with HKDF and reduced to a
// scalar as in FIPS 186-5 A.2.1, and signatures use a deterministic nonce derived
// from the private key and the message digest (the idea of RFC 6979, with HKDF as
// the PRF). The big-integer arithmetic is not constant time: these keys protect
// nothing, they only make simulated quotes Intel-shaped.

var p256N = elliptic.P256().Params().N

// deriveScalar returns a scalar in [1, n-1] derived from secret and label.
func deriveScalar(secret []byte, label string) (*big.Int, error) {
	// 48 bytes = 256 + 128 bits, so the bias of the reduction is negligible.
	b, err := hkdf.Key(sha256.New, secret, []byte("sgxops SIMULATED SGX platform v1"), label, 48)
	if err != nil {
		return nil, err
	}
	nm1 := new(big.Int).Sub(p256N, big.NewInt(1))
	k := new(big.Int).SetBytes(b)
	k.Mod(k, nm1)
	return k.Add(k, big.NewInt(1)), nil
}

// deriveKey derives the P-256 key named label from the platform seed.
func deriveKey(seed []byte, label string) (*ecdsa.PrivateKey, error) {
	d, err := deriveScalar(seed, "key:"+label)
	if err != nil {
		return nil, err
	}
	return ecdsa.ParseRawPrivateKey(elliptic.P256(), d.FillBytes(make([]byte, 32)))
}

// signDigest signs a SHA-256 digest deterministically and returns r and s.
func signDigest(key *ecdsa.PrivateKey, digest []byte) (r, s *big.Int, err error) {
	raw, err := key.Bytes()
	if err != nil {
		return nil, nil, err
	}
	d := new(big.Int).SetBytes(raw)
	e := new(big.Int).SetBytes(digest)
	if len(digest) > 32 {
		e.SetBytes(digest[:32])
	}
	for ctr := 0; ctr < 16; ctr++ {
		secret := append(append([]byte{}, raw...), digest...)
		k, err := deriveScalar(secret, fmt.Sprintf("nonce:%d", ctr))
		if err != nil {
			return nil, nil, err
		}
		kb := k.FillBytes(make([]byte, 32))
		kp, err := ecdh.P256().NewPrivateKey(kb)
		if err != nil {
			continue
		}
		point := kp.PublicKey().Bytes() // 0x04 ‖ X ‖ Y
		r = new(big.Int).SetBytes(point[1:33])
		r.Mod(r, p256N)
		if r.Sign() == 0 {
			continue
		}
		s = new(big.Int).Mul(r, d)
		s.Add(s, e)
		s.Mul(s, new(big.Int).ModInverse(k, p256N))
		s.Mod(s, p256N)
		if s.Sign() == 0 {
			continue
		}
		return r, s, nil
	}
	return nil, nil, errors.New("sim: could not find a signing nonce")
}

// signRaw signs SHA-256(msg) and returns Intel's raw 64-byte r‖s form.
func signRaw(key *ecdsa.PrivateKey, msg []byte) ([64]byte, error) {
	var out [64]byte
	h := sha256.Sum256(msg)
	r, s, err := signDigest(key, h[:])
	if err != nil {
		return out, err
	}
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}

// detSigner is a crypto.Signer that signs deterministically; x509 uses it to
// sign certificates and CRLs.
type detSigner struct{ key *ecdsa.PrivateKey }

func (s detSigner) Public() crypto.PublicKey { return s.key.Public() }

func (s detSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts != nil && opts.HashFunc() != crypto.SHA256 {
		return nil, fmt.Errorf("sim: signer supports SHA-256 only, not %v", opts.HashFunc())
	}
	r, sv, err := signDigest(s.key, digest)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(struct{ R, S *big.Int }{r, sv})
}

// rawPublicKey returns the 64-byte x‖y form of a P-256 public key, as quotes carry it.
func rawPublicKey(pub *ecdsa.PublicKey) ([64]byte, error) {
	var out [64]byte
	b, err := pub.Bytes()
	if err != nil {
		return out, err
	}
	copy(out[:], b[1:])
	return out, nil
}
