// Package manifest is the pinned list of the test corpus's files (origin,
// path, commit, SHA-256, and the recipe of each derived file). It has no
// dependencies so that the test helper internal/corpus can find the cache that
// make corpus fills without importing the builder.
package manifest

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

//go:embed manifest.json
var manifestJSON []byte

// Manifest lists every file of the corpus and where it comes from.
type Manifest struct {
	// Files are copied verbatim from a public repository at a pinned commit.
	Files []File `json:"files"`
	// Inputs are origin files that are not corpus files themselves but that a
	// derived file is extracted from; the derived file's pin checks the result.
	Inputs []Input `json:"inputs"`
	// Derived files are rebuilt here from Files and Inputs.
	Derived []Derived `json:"derived"`
	// Index files (cases.json, PROVENANCE.md) were written by the corpus's
	// curators and have no public origin. The tests do not need them (their case
	// tables are internal/corpus's, and this manifest is the provenance); they are
	// copied from an existing corpus when one is given.
	Index []Pinned `json:"index"`
}

// File is one verbatim corpus file.
type File struct {
	Path       string `json:"path"` // relative to the corpus directory
	Repo       string `json:"repo"` // owner/name on GitHub
	Commit     string `json:"commit"`
	OriginPath string `json:"origin_path"`
	SHA256     string `json:"sha256"`
}

// Input is an origin file a derived file is extracted from (kept in memory,
// not in the corpus); its bytes are pinned like a File's.
type Input struct {
	Name       string `json:"name"`
	Repo       string `json:"repo"`
	Commit     string `json:"commit"`
	OriginPath string `json:"origin_path"`
	SHA256     string `json:"sha256"`
}

// Pinned is a corpus file known only by its path and SHA-256.
type Pinned struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// Derived is a file made from other corpus files, either as a collateral bundle
// (Bundle) or by a pipeline of byte operations (Steps).
type Derived struct {
	Path   string        `json:"path"`
	SHA256 string        `json:"sha256"`
	Bundle []BundleField `json:"bundle,omitempty"`
	Steps  []Step        `json:"steps,omitempty"`
}

// BundleField is one key of a dcap-qvl QuoteCollateralV3 bundle.
//
// Op: "pem" (DER certificates as PEM), "text" (the files' bytes concatenated),
// "crl" (a DER or hex-text CRL), "body" / "sig" (the signed JSON body or the
// signature of a PCS response's Key). OEBlob selects blob n of an Open Enclave
// sgx_ql_qve_collateral_t dump instead of the whole file.
type BundleField struct {
	Name   string   `json:"name"`
	Op     string   `json:"op"`
	From   []string `json:"from"`
	Key    string   `json:"key,omitempty"`
	OEBlob *int     `json:"oe_blob,omitempty"`
}

// Step is one operation of a derived file's pipeline: "read" (File), "fetch"
// (Input), "hex-decode", "slice" [Start,End), "json-bytes" (the JSON array of
// byte values at Pointer), "snp-report-json" (the SEV-SNP report whose fields,
// in the sev crate's serde form, are the object at Pointer), "xor"/"add"/"set"
// (Value at Offset),
// "sol-hex-constant" (the hex"…" literal assigned to Name in Solidity source).
type Step struct {
	Op      string `json:"op"`
	File    string `json:"file,omitempty"`
	Input   string `json:"input,omitempty"`
	Start   int    `json:"start,omitempty"`
	End     int    `json:"end,omitempty"`
	Pointer string `json:"pointer,omitempty"`
	Offset  int    `json:"offset,omitempty"`
	Value   int    `json:"value,omitempty"`
	Name    string `json:"name,omitempty"`
}

// Load returns the embedded manifest.
func Load() (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(manifestJSON, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return &m, nil
}

// Hash names the manifest's version: the first 16 hex digits of its SHA-256
// (the Makefile computes the same with sha256sum to find the cache directory).
func Hash() string {
	s := sha256.Sum256(manifestJSON)
	return hex.EncodeToString(s[:])[:16]
}

// URL is where f is downloaded from under base (e.g. https://raw.githubusercontent.com).
func URL(base, repo, commit, path string) string {
	return base + "/" + repo + "/" + commit + "/" + path
}
