package collateral

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Collateral is everything needed to verify one quote, in the form Intel serves it.
// TCBInfo and QEIdentity hold the exact JSON bytes that their signatures cover (the
// value of "tcbInfo" / "enclaveIdentity" in the PCS response).
type Collateral struct {
	PCKCRLIssuerChain     []byte // PEM, leaf (PCK Platform/Processor CA) first
	RootCACRL             []byte // DER
	PCKCRL                []byte // DER
	TCBInfoIssuerChain    []byte // PEM: TCB Signing cert, Root CA
	TCBInfo               []byte // signed JSON body of the TCB Info
	TCBInfoSignature      []byte // 64 bytes r‖s
	QEIdentityIssuerChain []byte // PEM
	QEIdentity            []byte // signed JSON body of the QE Identity
	QEIdentitySignature   []byte // 64 bytes r‖s
	// PCKCertificateChain is optional PEM for quotes that do not carry the PCK chain
	// themselves (certification data types 1–4).
	PCKCertificateChain []byte
}

// bundleJSON is the dcap-qvl QuoteCollateralV3 layout: chains as PEM strings, CRLs
// as hex DER, TCB Info / QE Identity as the signed body strings, signatures as hex.
type bundleJSON struct {
	PCKCRLIssuerChain     string `json:"pck_crl_issuer_chain"`
	RootCACRL             string `json:"root_ca_crl"`
	PCKCRL                string `json:"pck_crl"`
	TCBInfoIssuerChain    string `json:"tcb_info_issuer_chain"`
	TCBInfo               string `json:"tcb_info"`
	TCBInfoSignature      string `json:"tcb_info_signature"`
	QEIdentityIssuerChain string `json:"qe_identity_issuer_chain"`
	QEIdentity            string `json:"qe_identity"`
	QEIdentitySignature   string `json:"qe_identity_signature"`
	PCKCertificateChain   string `json:"pck_certificate_chain,omitempty"`
}

// BundleError reports a malformed offline bundle, naming the key at fault.
type BundleError struct {
	Field  string
	Reason string
}

func (e *BundleError) Error() string {
	return fmt.Sprintf("collateral: bundle field %q: %s", e.Field, e.Reason)
}

// MaxBundleSize bounds ParseBundle's input; real bundles are tens of KiB.
const MaxBundleSize = 8 << 20

// ParseBundle decodes an offline collateral bundle in the dcap-qvl QuoteCollateralV3
// JSON layout. Every required field must be present and well-formed.
func ParseBundle(b []byte) (*Collateral, error) {
	if len(b) > MaxBundleSize {
		return nil, &BundleError{Field: "(file)", Reason: fmt.Sprintf("%d bytes exceeds the %d-byte limit", len(b), MaxBundleSize)}
	}
	var j bundleJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&j); err != nil {
		return nil, &BundleError{Field: "(file)", Reason: "not a JSON object: " + err.Error()}
	}
	c := &Collateral{
		PCKCRLIssuerChain:     []byte(j.PCKCRLIssuerChain),
		TCBInfoIssuerChain:    []byte(j.TCBInfoIssuerChain),
		TCBInfo:               []byte(j.TCBInfo),
		QEIdentityIssuerChain: []byte(j.QEIdentityIssuerChain),
		QEIdentity:            []byte(j.QEIdentity),
		PCKCertificateChain:   []byte(j.PCKCertificateChain),
	}
	required := map[string]string{
		"pck_crl_issuer_chain": j.PCKCRLIssuerChain, "tcb_info_issuer_chain": j.TCBInfoIssuerChain,
		"tcb_info": j.TCBInfo, "qe_identity_issuer_chain": j.QEIdentityIssuerChain, "qe_identity": j.QEIdentity,
	}
	for _, k := range []string{"pck_crl_issuer_chain", "tcb_info_issuer_chain", "tcb_info", "qe_identity_issuer_chain", "qe_identity"} {
		if strings.TrimSpace(required[k]) == "" {
			return nil, &BundleError{Field: k, Reason: "missing or empty"}
		}
	}
	var err error
	hexFields := []struct {
		name string
		in   string
		out  *[]byte
		size int // exact decoded size, 0 = any non-empty
	}{
		{"root_ca_crl", j.RootCACRL, &c.RootCACRL, 0},
		{"pck_crl", j.PCKCRL, &c.PCKCRL, 0},
		{"tcb_info_signature", j.TCBInfoSignature, &c.TCBInfoSignature, 64},
		{"qe_identity_signature", j.QEIdentitySignature, &c.QEIdentitySignature, 64},
	}
	for _, f := range hexFields {
		s := strings.TrimPrefix(strings.TrimSpace(f.in), "0x")
		if s == "" {
			return nil, &BundleError{Field: f.name, Reason: "missing or empty"}
		}
		if *f.out, err = hex.DecodeString(s); err != nil {
			return nil, &BundleError{Field: f.name, Reason: "not hex: " + err.Error()}
		}
		if f.size != 0 && len(*f.out) != f.size {
			return nil, &BundleError{Field: f.name, Reason: fmt.Sprintf("decodes to %d bytes, want %d", len(*f.out), f.size)}
		}
	}
	return c, nil
}

// MarshalBundle encodes c in the dcap-qvl QuoteCollateralV3 JSON layout that
// ParseBundle reads.
func (c *Collateral) MarshalBundle() ([]byte, error) {
	j := bundleJSON{
		PCKCRLIssuerChain:     string(c.PCKCRLIssuerChain),
		RootCACRL:             hex.EncodeToString(c.RootCACRL),
		PCKCRL:                hex.EncodeToString(c.PCKCRL),
		TCBInfoIssuerChain:    string(c.TCBInfoIssuerChain),
		TCBInfo:               string(c.TCBInfo),
		TCBInfoSignature:      hex.EncodeToString(c.TCBInfoSignature),
		QEIdentityIssuerChain: string(c.QEIdentityIssuerChain),
		QEIdentity:            string(c.QEIdentity),
		QEIdentitySignature:   hex.EncodeToString(c.QEIdentitySignature),
		PCKCertificateChain:   string(c.PCKCertificateChain),
	}
	return json.MarshalIndent(j, "", "  ")
}
