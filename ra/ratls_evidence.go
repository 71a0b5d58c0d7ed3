package ra

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"fmt"
)

// RA-TLS certificate extensions.
//
// OIDGramineQuote (1.2.840.113741.1337.6, Gramine's legacy RA-TLS): the
// extension value is the raw quote; its report data is
// SHA-256(DER SubjectPublicKeyInfo) ‖ 0^32.
//
// OIDTCGDiceEvidence (2.23.133.5.4.9, TCG DICE tagged evidence / conceptual
// message wrapper), in the "interoperable RA-TLS" layout (CBOR tag 60000 as
// Gramine defines it for TEE quotes; interoperability with Gramine's own
// verifier is not tested in this project): the extension value is the CBOR
// item
//
//	60000([ quote: bstr, claims: bstr ])
//
// where claims is the encoded CBOR map
//
//	{ "pubkey-hash": bstr(encoded [ hash-alg-id: uint, hash: bstr ]) }
//
// hash-alg-id is from the IANA named-information registry (1 = SHA-256,
// 7 = SHA-384, 8 = SHA-512; we emit SHA-256), hash is over the DER
// SubjectPublicKeyInfo, and the quote's report data is SHA-256(claims) ‖ 0^32.
// So the quote binds the claims and the claims bind the key. Other claims
// (e.g. "nonce") are allowed and ignored.
var (
	OIDGramineQuote    = asn1.ObjectIdentifier{1, 2, 840, 113741, 1337, 6}
	OIDTCGDiceEvidence = asn1.ObjectIdentifier{2, 23, 133, 5, 4, 9}
)

// CBORTagTEEQuote is the CBOR tag of TEE-quote evidence in the DICE
// extension (the value Gramine uses).
const CBORTagTEEQuote = 60000

// IANA named-information hash algorithm IDs.
const (
	HashAlgSHA256 = 1
	HashAlgSHA384 = 7
	HashAlgSHA512 = 8
)

const claimPubKeyHash = "pubkey-hash"

// DICEEvidence is the decoded content of an OIDTCGDiceEvidence extension.
type DICEEvidence struct {
	Quote  []byte
	Claims []byte // the exact encoded claims map the quote binds
	// PubKeyHashAlg and PubKeyHash are the "pubkey-hash" claim.
	PubKeyHashAlg uint64
	PubKeyHash    []byte
}

// DICEClaims returns the encoded claims map binding spki (DER
// SubjectPublicKeyInfo) with SHA-256.
func DICEClaims(spki []byte) []byte {
	h := sha256.Sum256(spki)
	entry := cborHead(nil, cborArray, 2)
	entry = cborHead(entry, cborUint, HashAlgSHA256)
	entry = cborAppendBytes(entry, h[:])
	m := cborHead(nil, cborMap, 1)
	m = cborAppendText(m, claimPubKeyHash)
	return cborAppendBytes(m, entry)
}

// MarshalDICEEvidence returns the extension value 60000([quote, claims]).
func MarshalDICEEvidence(quote, claims []byte) []byte {
	b := cborHead(nil, cborTag, CBORTagTEEQuote)
	b = cborHead(b, cborArray, 2)
	b = cborAppendBytes(b, quote)
	return cborAppendBytes(b, claims)
}

// ParseDICEEvidence decodes an OIDTCGDiceEvidence extension value. It checks
// structure only; the quote is not verified here.
func ParseDICEEvidence(b []byte) (*DICEEvidence, error) {
	d := &cborDecoder{op: "decode DICE evidence", b: b}
	tag, start, err := d.expect("tag", cborTag)
	if err != nil {
		return nil, err
	}
	if tag != CBORTagTEEQuote {
		return nil, d.fail("tag", start, "CBOR tag %d, want %d (TEE quote)", tag, CBORTagTEEQuote)
	}
	n, err := d.count("evidence", cborArray)
	if err != nil {
		return nil, err
	}
	if n != 2 {
		return nil, d.fail("evidence", start, "array of %d items, want 2 (quote, claims)", n)
	}
	ev := &DICEEvidence{}
	q, err := d.str("quote", cborBytes)
	if err != nil {
		return nil, err
	}
	if len(q) == 0 {
		return nil, d.fail("quote", d.off, "empty quote")
	}
	c, err := d.str("claims", cborBytes)
	if err != nil {
		return nil, err
	}
	if err := d.end("evidence"); err != nil {
		return nil, err
	}
	ev.Quote = append([]byte(nil), q...)
	ev.Claims = append([]byte(nil), c...)
	if ev.PubKeyHashAlg, ev.PubKeyHash, err = parseDICEClaims(ev.Claims); err != nil {
		return nil, err
	}
	return ev, nil
}

// parseDICEClaims decodes the claims map and returns its pubkey-hash entry.
func parseDICEClaims(b []byte) (uint64, []byte, error) {
	d := &cborDecoder{op: "decode DICE claims", b: b}
	n, err := d.count("claims", cborMap)
	if err != nil {
		return 0, nil, err
	}
	var entry []byte
	for i := 0; i < n; i++ {
		keyOff := d.off
		k, err := d.str("claims.key", cborText)
		if err != nil {
			return 0, nil, err
		}
		if string(k) != claimPubKeyHash {
			if err := d.skip("claims."+string(k), 1); err != nil {
				return 0, nil, err
			}
			continue
		}
		if entry != nil {
			return 0, nil, d.fail("claims.pubkey-hash", keyOff, "duplicate claim")
		}
		if entry, err = d.str("claims.pubkey-hash", cborBytes); err != nil {
			return 0, nil, err
		}
	}
	if err := d.end("claims"); err != nil {
		return 0, nil, err
	}
	if entry == nil {
		return 0, nil, d.fail("claims.pubkey-hash", -1, "missing")
	}
	e := &cborDecoder{op: "decode DICE pubkey-hash", b: entry}
	start := e.off
	if n, err := e.count("hash-entry", cborArray); err != nil {
		return 0, nil, err
	} else if n != 2 {
		return 0, nil, e.fail("hash-entry", start, "array of %d items, want 2", n)
	}
	alg, algOff, err := e.expect("hash-alg-id", cborUint)
	if err != nil {
		return 0, nil, err
	}
	h, err := e.str("hash-value", cborBytes)
	if err != nil {
		return 0, nil, err
	}
	if err := e.end("hash-entry"); err != nil {
		return 0, nil, err
	}
	size, ok := hashSize(alg)
	if !ok {
		return 0, nil, e.fail("hash-alg-id", algOff, "unsupported hash algorithm %d", alg)
	}
	if len(h) != size {
		return 0, nil, e.fail("hash-value", algOff+1, "%d bytes, want %d for algorithm %d", len(h), size, alg)
	}
	return alg, append([]byte(nil), h...), nil
}

func hashSize(alg uint64) (int, bool) {
	switch alg {
	case HashAlgSHA256:
		return sha256.Size, true
	case HashAlgSHA384:
		return sha512.Size384, true
	case HashAlgSHA512:
		return sha512.Size, true
	}
	return 0, false
}

// hashSPKI hashes spki with the named algorithm.
func hashSPKI(alg uint64, spki []byte) ([]byte, error) {
	switch alg {
	case HashAlgSHA256:
		h := sha256.Sum256(spki)
		return h[:], nil
	case HashAlgSHA384:
		h := sha512.Sum384(spki)
		return h[:], nil
	case HashAlgSHA512:
		h := sha512.Sum512(spki)
		return h[:], nil
	}
	return nil, fmt.Errorf("ra: unsupported hash algorithm %d", alg)
}
