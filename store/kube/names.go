package kube

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Object names. Release names are "APP.NAME" (both DNS labels without dots,
// so the pair is unambiguous); policy names are the lowercased attestation
// type plus 8 hex characters of its SHA-256 (types are case-sensitive).
const (
	ledgerName = "ledger"
	certsName  = "policy-certificates"
)

// Ledger keys ("kind/name") of the objects.
const (
	kindRelease = "AttestdRelease"
	kindPolicy  = "AttestdPolicy"
	kindCerts   = "AttestdPolicyCertificates"
	kindSegment = "AttestdAuditSegment"
	kindLedger  = "AttestdLedger"

	prefixRelease = "release/"
	prefixPolicy  = "policy/"
	keyCerts      = "policycertificates/" + certsName
)

func releaseName(app, name string) string { return app + "." + name }

func policyName(typ string) string {
	sum := sha256.Sum256([]byte(typ))
	return strings.ToLower(typ) + "-" + hex.EncodeToString(sum[:4])
}

func segmentName(first int64) string { return fmt.Sprintf("audit-%016d", first) }

// digest is the SHA-256 (base64) of a spec's JSON encoding, as recorded in
// the ledger. The specs are plain structs whose JSON is deterministic and
// survives the API server's round trip unchanged.
func digest(spec any) string {
	b, err := json.Marshal(spec)
	if err != nil {
		panic(err) // the spec types always marshal
	}
	sum := sha256.Sum256(b)
	return base64.RawStdEncoding.EncodeToString(sum[:])
}
