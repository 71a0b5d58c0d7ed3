package collateral

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Window is the validity period that a collateral item declares: issueDate and
// nextUpdate for TCB Info and QE Identity, thisUpdate and nextUpdate for CRLs.
type Window struct {
	IssueDate  time.Time `json:"issueDate"`
	NextUpdate time.Time `json:"nextUpdate"`
}

// Summary describes a collateral set without verifying anything: what it is for
// and when each part must be replaced. It reads only the few identifying fields;
// full TCB Info and QE Identity parsing belongs to the verifier.
type Summary struct {
	// TEE is "sgx" or "tdx", from the TCB Info id (a v2 TCB Info has no id and is SGX).
	TEE string `json:"tee"`
	// FMSPC is the TCB Info's FMSPC in lower case.
	FMSPC string `json:"fmspc"`
	// PCKCA is "processor" or "platform", from the PCK CRL issuer name; empty if
	// the issuer is not one of the two Intel PCK CAs.
	PCKCA string `json:"pckCA,omitempty"`

	TCBInfoID               string `json:"tcbInfoId,omitempty"`
	TCBInfoVersion          int    `json:"tcbInfoVersion"`
	TCBEvaluationDataNumber int    `json:"tcbEvaluationDataNumber"`
	TCBInfo                 Window `json:"tcbInfo"`

	QEIdentityID      string `json:"qeIdentityId,omitempty"`
	QEIdentityVersion int    `json:"qeIdentityVersion"`
	QEIdentity        Window `json:"qeIdentity"`

	PCKCRLIssuer string `json:"pckCrlIssuer"`
	PCKCRL       Window `json:"pckCrl"`
	RootCACRL    Window `json:"rootCaCrl"`

	// NextUpdate is the earliest nextUpdate of the four items: after it the set
	// is out of date and must be fetched again.
	NextUpdate time.Time `json:"nextUpdate"`
}

// signedBodyHeader holds the identifying fields shared by TCB Info and QE
// Identity bodies; everything else is left to the verifier's parser.
type signedBodyHeader struct {
	ID                      string    `json:"id"`
	Version                 int       `json:"version"`
	IssueDate               time.Time `json:"issueDate"`
	NextUpdate              time.Time `json:"nextUpdate"`
	FMSPC                   string    `json:"fmspc"`
	TCBEvaluationDataNumber int       `json:"tcbEvaluationDataNumber"`
}

func parseSignedBodyHeader(field string, b []byte) (*signedBodyHeader, error) {
	var h signedBodyHeader
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, invalidf(field, "empty")
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, invalidf(field, "%v", err)
	}
	if h.NextUpdate.IsZero() {
		return nil, invalidf(field, "no nextUpdate")
	}
	return &h, nil
}

func invalidf(field, format string, args ...any) error {
	return &FetchError{Field: field, Kind: ErrInvalid, Err: fmt.Errorf(format, args...)}
}

// teeOfTCBInfo maps a TCB Info id to a Request TEE.
func teeOfTCBInfo(h *signedBodyHeader) (string, error) {
	switch {
	case h.ID == "" && h.Version < 3:
		return TEESGX, nil
	case h.ID == "SGX":
		return TEESGX, nil
	case h.ID == "TDX":
		return TEETDX, nil
	}
	return "", invalidf("tcb_info.id", "unknown TCB Info id %q (version %d)", h.ID, h.Version)
}

// qeIdentityIDFor is the QE Identity id that goes with a TEE's TCB Info.
var qeIdentityIDFor = map[string]string{TEESGX: "QE", TEETDX: "TD_QE"}

// pckCAOfIssuer maps an Intel PCK CA name to a Request PCKCA.
func pckCAOfIssuer(commonName string) string {
	cn := strings.ToLower(commonName)
	switch {
	case strings.Contains(cn, "pck processor ca"):
		return PCKCAProcessor
	case strings.Contains(cn, "pck platform ca"):
		return PCKCAPlatform
	}
	return ""
}

// Summarize reads the identifying fields and validity windows of c. It fails with
// an error wrapping ErrInvalid, naming the bundle field, when a part is missing or
// malformed, or when the QE Identity is not the one that goes with the TCB Info's
// TEE (QE for SGX, TD_QE for TDX).
func Summarize(c *Collateral) (*Summary, error) {
	if c == nil {
		return nil, invalidf("(collateral)", "nil")
	}
	tcb, err := parseSignedBodyHeader("tcb_info", c.TCBInfo)
	if err != nil {
		return nil, err
	}
	tee, err := teeOfTCBInfo(tcb)
	if err != nil {
		return nil, err
	}
	fmspc := strings.ToLower(tcb.FMSPC)
	if _, herr := hex.DecodeString(fmspc); herr != nil || len(fmspc) != 12 {
		return nil, invalidf("tcb_info.fmspc", "%q is not 12 hex digits", tcb.FMSPC)
	}
	qe, err := parseSignedBodyHeader("qe_identity", c.QEIdentity)
	if err != nil {
		return nil, err
	}
	if qe.ID != "" && qe.ID != qeIdentityIDFor[tee] {
		return nil, invalidf("qe_identity.id", "%q does not go with %s TCB Info (want %q)", qe.ID, tee, qeIdentityIDFor[tee])
	}
	pck, err := parseCRL(c.PCKCRL)
	if err != nil {
		return nil, invalidf("pck_crl", "%v", err)
	}
	root, err := parseCRL(c.RootCACRL)
	if err != nil {
		return nil, invalidf("root_ca_crl", "%v", err)
	}
	s := &Summary{
		TEE:                     tee,
		FMSPC:                   fmspc,
		PCKCA:                   pckCAOfIssuer(pck.Issuer.CommonName),
		TCBInfoID:               tcb.ID,
		TCBInfoVersion:          tcb.Version,
		TCBEvaluationDataNumber: tcb.TCBEvaluationDataNumber,
		TCBInfo:                 Window{tcb.IssueDate, tcb.NextUpdate},
		QEIdentityID:            qe.ID,
		QEIdentityVersion:       qe.Version,
		QEIdentity:              Window{qe.IssueDate, qe.NextUpdate},
		PCKCRLIssuer:            pck.Issuer.CommonName,
		PCKCRL:                  Window{pck.ThisUpdate, pck.NextUpdate},
		RootCACRL:               Window{root.ThisUpdate, root.NextUpdate},
	}
	// A CRL without nextUpdate (allowed by RFC 5280, never issued by Intel) does
	// not bound the set's lifetime.
	for _, t := range []time.Time{tcb.NextUpdate, qe.NextUpdate, pck.NextUpdate, root.NextUpdate} {
		if !t.IsZero() && (s.NextUpdate.IsZero() || t.Before(s.NextUpdate)) {
			s.NextUpdate = t
		}
	}
	return s, nil
}
