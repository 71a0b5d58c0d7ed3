package collateral

import (
	"time"
)

// Enclave Identity identifiers (the "id" field of an Enclave Identity v2).
const (
	QEIdentityIDSGX   = "QE"    // SGX quoting enclave (QE3)
	QEIdentityIDTDX   = "TD_QE" // TDX quoting enclave
	QEIdentityIDQVE   = "QVE"   // quote verification enclave (not used by sgxops)
	QEIdentityVersion = 2
)

// QEIdentity is a parsed Enclave Identity v2 (the signed "enclaveIdentity"
// body of the PCS QE Identity response) for the SGX QE or the TD QE.
type QEIdentity struct {
	ID                      string // "QE", "TD_QE" (or "QVE")
	Version                 int    // always 2
	IssueDate               time.Time
	NextUpdate              time.Time
	TCBEvaluationDataNumber uint32
	// MiscSelect and its mask are the 4 MISCSELECT bytes as they appear in a
	// report body (the JSON hex is in report byte order).
	MiscSelect     [4]byte
	MiscSelectMask [4]byte
	// Attributes and its mask are the 16 ATTRIBUTES bytes in report byte order.
	Attributes     [16]byte
	AttributesMask [16]byte
	MRSigner       [32]byte
	ISVProdID      uint16
	// TCBLevels in document order (Intel serves them highest ISVSVN first).
	TCBLevels []EnclaveTCBLevel
}

type rawQEIdentity struct {
	ID                      *string              `json:"id"`
	Version                 *int                 `json:"version"`
	IssueDate               *string              `json:"issueDate"`
	NextUpdate              *string              `json:"nextUpdate"`
	TCBEvaluationDataNumber *uint32              `json:"tcbEvaluationDataNumber"`
	MiscSelect              *string              `json:"miscselect"`
	MiscSelectMask          *string              `json:"miscselectMask"`
	Attributes              *string              `json:"attributes"`
	AttributesMask          *string              `json:"attributesMask"`
	MRSigner                *string              `json:"mrsigner"`
	ISVProdID               *uint16              `json:"isvprodid"`
	TCBLevels               []rawEnclaveTCBLevel `json:"tcbLevels"`
}

const docQEIdentity = "QE Identity"

// ParseQEIdentity parses the signed JSON body of an Enclave Identity v2
// ("enclaveIdentity" of the PCS response, collateral.QEIdentity). Every field
// must be present and well-formed and every status one Intel defines. Another
// version gives a *VersionError; malformed input a *DocumentError. It does not
// verify the signature (package dcap does).
func ParseQEIdentity(raw []byte) (*QEIdentity, error) {
	var r rawQEIdentity
	if err := decodeDoc(docQEIdentity, raw, &r); err != nil {
		return nil, err
	}
	if r.Version == nil {
		return nil, docErr(docQEIdentity, "version", "missing")
	}
	if *r.Version != QEIdentityVersion {
		return nil, &VersionError{Doc: docQEIdentity, Version: *r.Version, Want: QEIdentityVersion,
			Hint: "fetch the QE Identity from the PCS/PCCS v4 API (/sgx|tdx/certification/v4/qe/identity)"}
	}
	q := &QEIdentity{Version: *r.Version}
	if r.ID == nil || *r.ID == "" {
		return nil, docErr(docQEIdentity, "id", "missing or empty")
	}
	q.ID = *r.ID
	switch q.ID {
	case QEIdentityIDSGX, QEIdentityIDTDX, QEIdentityIDQVE:
	default:
		return nil, docErr(docQEIdentity, "id", "%q is not %q, %q or %q", q.ID, QEIdentityIDSGX, QEIdentityIDTDX, QEIdentityIDQVE)
	}
	var err error
	if q.IssueDate, err = docDate(docQEIdentity, "issueDate", r.IssueDate); err != nil {
		return nil, err
	}
	if q.NextUpdate, err = docDate(docQEIdentity, "nextUpdate", r.NextUpdate); err != nil {
		return nil, err
	}
	if q.NextUpdate.Before(q.IssueDate) {
		return nil, docErr(docQEIdentity, "nextUpdate", "%s is before issueDate %s", q.NextUpdate.Format(time.RFC3339), q.IssueDate.Format(time.RFC3339))
	}
	if r.TCBEvaluationDataNumber == nil {
		return nil, docErr(docQEIdentity, "tcbEvaluationDataNumber", "missing")
	}
	q.TCBEvaluationDataNumber = *r.TCBEvaluationDataNumber
	hexFields := []struct {
		name string
		in   *string
		out  []byte
	}{
		{"miscselect", r.MiscSelect, q.MiscSelect[:]},
		{"miscselectMask", r.MiscSelectMask, q.MiscSelectMask[:]},
		{"attributes", r.Attributes, q.Attributes[:]},
		{"attributesMask", r.AttributesMask, q.AttributesMask[:]},
		{"mrsigner", r.MRSigner, q.MRSigner[:]},
	}
	for _, f := range hexFields {
		if err := docHex(docQEIdentity, f.name, f.in, f.out); err != nil {
			return nil, err
		}
	}
	if r.ISVProdID == nil {
		return nil, docErr(docQEIdentity, "isvprodid", "missing")
	}
	q.ISVProdID = *r.ISVProdID
	if q.TCBLevels, err = docEnclaveLevels(docQEIdentity, "tcbLevels", r.TCBLevels); err != nil {
		return nil, err
	}
	return q, nil
}
