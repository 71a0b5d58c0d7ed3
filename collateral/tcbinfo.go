package collateral

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// TCBStatus is the tcbStatus string of a TCB level in TCB Info or an Enclave
// Identity, in Intel's spelling. Parsing rejects every other string.
type TCBStatus string

// The TCB level statuses Intel PCS v4 defines.
const (
	TCBUpToDate                          TCBStatus = "UpToDate"
	TCBSWHardeningNeeded                 TCBStatus = "SWHardeningNeeded"
	TCBConfigurationNeeded               TCBStatus = "ConfigurationNeeded"
	TCBConfigurationAndSWHardeningNeeded TCBStatus = "ConfigurationAndSWHardeningNeeded"
	TCBOutOfDate                         TCBStatus = "OutOfDate"
	TCBOutOfDateConfigurationNeeded      TCBStatus = "OutOfDateConfigurationNeeded"
	TCBRevoked                           TCBStatus = "Revoked"
)

// Valid reports whether s is one of the seven statuses Intel defines.
func (s TCBStatus) Valid() bool {
	switch s {
	case TCBUpToDate, TCBSWHardeningNeeded, TCBConfigurationNeeded, TCBConfigurationAndSWHardeningNeeded,
		TCBOutOfDate, TCBOutOfDateConfigurationNeeded, TCBRevoked:
		return true
	}
	return false
}

// TCB Info identifiers (the "id" field of TCB Info v3).
const (
	TCBInfoIDSGX = "SGX"
	TCBInfoIDTDX = "TDX"
)

// TCBInfoVersion is the only TCB Info version sgxops reads (Intel PCS API v4).
const TCBInfoVersion = 3

// TCBComponentCount is the number of SGX (and TDX) TCB components in a TCB level.
const TCBComponentCount = 16

// MaxDocumentSize bounds ParseTCBInfo and ParseQEIdentity input; real documents
// are a few KiB.
const MaxDocumentSize = 1 << 20

// TCBInfo is a parsed TCB Info v3 (the signed "tcbInfo" body of the PCS
// response) for SGX or TDX.
type TCBInfo struct {
	ID                      string // "SGX" or "TDX"
	Version                 int    // always 3
	IssueDate               time.Time
	NextUpdate              time.Time
	FMSPC                   [6]byte
	PCEID                   [2]byte
	TCBType                 int
	TCBEvaluationDataNumber uint32
	// TDXModule is set for TDX TCB Info (required there) and nil for SGX.
	TDXModule *TDXModule
	// TDXModuleIdentities is the optional per-module-version list of TDX TCB Info.
	TDXModuleIdentities []TDXModuleIdentity
	// TCBLevels in document order (Intel serves them highest first).
	TCBLevels []TCBLevel
}

// IsTDX reports whether the TCB Info is for TDX.
func (t *TCBInfo) IsTDX() bool { return t.ID == TCBInfoIDTDX }

// TDXModule describes the TDX module (SEAM) signer and attributes expected in TD quotes.
type TDXModule struct {
	MRSigner       [48]byte
	Attributes     [8]byte
	AttributesMask [8]byte
}

// TDXModuleIdentity is one entry of tdxModuleIdentities: the identity and TCB
// levels of one TDX module major version (ID "TDX_01", "TDX_03" ...).
type TDXModuleIdentity struct {
	ID             string
	MRSigner       [48]byte
	Attributes     [8]byte
	AttributesMask [8]byte
	TCBLevels      []EnclaveTCBLevel
}

// TCBComponent is one SVN of a TCB level with its optional description.
type TCBComponent struct {
	SVN      uint8
	Category string
	Type     string
}

// TCBLevel is one platform TCB level of TCB Info v3.
type TCBLevel struct {
	SGXComponents [TCBComponentCount]TCBComponent
	PCESVN        uint16
	// TDXComponents is set for TDX TCB Info only (HasTDX).
	TDXComponents [TCBComponentCount]TCBComponent
	HasTDX        bool
	TCBDate       time.Time
	Status        TCBStatus
	AdvisoryIDs   []string
}

// EnclaveTCBLevel is a TCB level keyed by an ISVSVN: the levels of QE
// Identities and of TDX module identities.
type EnclaveTCBLevel struct {
	ISVSVN      uint16
	TCBDate     time.Time
	Status      TCBStatus
	AdvisoryIDs []string
}

// ErrUnsupportedVersion is matched (errors.Is) by every *VersionError.
var ErrUnsupportedVersion = errors.New("collateral: unsupported document version")

// VersionError reports a TCB Info or QE Identity whose version sgxops does not
// read, such as TCB Info v2 (served by PCS API v3 and old PCCS instances).
type VersionError struct {
	Doc     string // "TCB Info" or "QE Identity"
	Version int
	Want    int
	Hint    string
}

func (e *VersionError) Error() string {
	msg := fmt.Sprintf("collateral: %s version %d is not supported (want %d)", e.Doc, e.Version, e.Want)
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	return msg
}

// Is makes errors.Is(err, ErrUnsupportedVersion) true.
func (e *VersionError) Is(target error) bool { return target == ErrUnsupportedVersion }

// DocumentError reports a malformed TCB Info or QE Identity, naming the field
// (a JSON path such as "tcbLevels[2].tcb.pcesvn") and, where known, the byte offset.
type DocumentError struct {
	Doc    string
	Field  string
	Offset int64 // -1 when unknown
	Reason string
}

func (e *DocumentError) Error() string {
	at := ""
	if e.Offset >= 0 {
		at = fmt.Sprintf(" (offset %d)", e.Offset)
	}
	if e.Field == "" {
		return fmt.Sprintf("collateral: %s%s: %s", e.Doc, at, e.Reason)
	}
	return fmt.Sprintf("collateral: %s field %q%s: %s", e.Doc, e.Field, at, e.Reason)
}

func docErr(doc, field, format string, args ...any) *DocumentError {
	return &DocumentError{Doc: doc, Field: field, Offset: -1, Reason: fmt.Sprintf(format, args...)}
}

// decodeDoc unmarshals a signed JSON body into v, turning encoding/json errors
// into DocumentErrors. Trailing data after the object is rejected.
func decodeDoc(doc string, raw []byte, v any) error {
	if len(raw) > MaxDocumentSize {
		return docErr(doc, "", "%d bytes exceeds the %d-byte limit", len(raw), MaxDocumentSize)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return &DocumentError{Doc: doc, Field: te.Field, Offset: te.Offset, Reason: fmt.Sprintf("JSON %s cannot be a %s", te.Value, te.Type)}
		case errors.As(err, &se):
			return &DocumentError{Doc: doc, Offset: se.Offset, Reason: "invalid JSON: " + se.Error()}
		}
		return docErr(doc, "", "invalid JSON: %v", err)
	}
	if dec.More() {
		return &DocumentError{Doc: doc, Offset: dec.InputOffset(), Reason: "trailing data after the JSON object"}
	}
	return nil
}

// rawTCBInfo mirrors the JSON; pointers tell missing fields from zero values.
type rawTCBInfo struct {
	ID                      *string             `json:"id"`
	Version                 *int                `json:"version"`
	IssueDate               *string             `json:"issueDate"`
	NextUpdate              *string             `json:"nextUpdate"`
	FMSPC                   *string             `json:"fmspc"`
	PCEID                   *string             `json:"pceId"`
	TCBType                 *int                `json:"tcbType"`
	TCBEvaluationDataNumber *uint32             `json:"tcbEvaluationDataNumber"`
	TDXModule               *rawTDXModule       `json:"tdxModule"`
	TDXModuleIdentities     []rawModuleIdentity `json:"tdxModuleIdentities"`
	TCBLevels               []rawTCBLevel       `json:"tcbLevels"`
}

type rawTDXModule struct {
	MRSigner       *string `json:"mrsigner"`
	Attributes     *string `json:"attributes"`
	AttributesMask *string `json:"attributesMask"`
}

type rawModuleIdentity struct {
	ID string `json:"id"`
	rawTDXModule
	TCBLevels []rawEnclaveTCBLevel `json:"tcbLevels"`
}

type rawComponent struct {
	SVN      *uint8 `json:"svn"`
	Category string `json:"category"`
	Type     string `json:"type"`
}

type rawTCB struct {
	SGXComponents []rawComponent `json:"sgxtcbcomponents"`
	PCESVN        *uint16        `json:"pcesvn"`
	TDXComponents []rawComponent `json:"tdxtcbcomponents"`
	// V2Comp01 detects the flat TCB Info v2 layout (sgxtcbcomp01svn ...).
	V2Comp01 json.RawMessage `json:"sgxtcbcomp01svn"`
}

type rawTCBLevel struct {
	TCB         *rawTCB   `json:"tcb"`
	TCBDate     *string   `json:"tcbDate"`
	TCBStatus   *string   `json:"tcbStatus"`
	AdvisoryIDs *[]string `json:"advisoryIDs"`
}

type rawEnclaveTCB struct {
	ISVSVN *uint16 `json:"isvsvn"`
}

type rawEnclaveTCBLevel struct {
	TCB         *rawEnclaveTCB `json:"tcb"`
	TCBDate     *string        `json:"tcbDate"`
	TCBStatus   *string        `json:"tcbStatus"`
	AdvisoryIDs *[]string      `json:"advisoryIDs"`
}

const docTCBInfo = "TCB Info"

// ParseTCBInfo parses the signed JSON body of a TCB Info v3 ("tcbInfo" of the
// PCS response, collateral.TCBInfo). It checks that every required field is
// present and well-formed, that statuses are ones Intel defines, and that TDX
// TCB Info carries tdxModule and 16 tdxtcbcomponents per level. Version 2
// (and any other version) gives a *VersionError; malformed input a *DocumentError.
// ParseTCBInfo does not verify the signature (package dcap does).
func ParseTCBInfo(raw []byte) (*TCBInfo, error) {
	var r rawTCBInfo
	if err := decodeDoc(docTCBInfo, raw, &r); err != nil {
		return nil, err
	}
	if r.Version == nil {
		return nil, docErr(docTCBInfo, "version", "missing")
	}
	if *r.Version != TCBInfoVersion {
		return nil, &VersionError{Doc: docTCBInfo, Version: *r.Version, Want: TCBInfoVersion,
			Hint: "fetch TCB Info v3 from the PCS/PCCS v4 API (/sgx|tdx/certification/v4/tcb)"}
	}
	t := &TCBInfo{Version: *r.Version}
	if r.ID == nil {
		return nil, docErr(docTCBInfo, "id", "missing")
	}
	t.ID = *r.ID
	if t.ID != TCBInfoIDSGX && t.ID != TCBInfoIDTDX {
		return nil, docErr(docTCBInfo, "id", "%q is neither %q nor %q", t.ID, TCBInfoIDSGX, TCBInfoIDTDX)
	}
	var err error
	if t.IssueDate, err = docDate(docTCBInfo, "issueDate", r.IssueDate); err != nil {
		return nil, err
	}
	if t.NextUpdate, err = docDate(docTCBInfo, "nextUpdate", r.NextUpdate); err != nil {
		return nil, err
	}
	if t.NextUpdate.Before(t.IssueDate) {
		return nil, docErr(docTCBInfo, "nextUpdate", "%s is before issueDate %s", t.NextUpdate.Format(time.RFC3339), t.IssueDate.Format(time.RFC3339))
	}
	if err := docHex(docTCBInfo, "fmspc", r.FMSPC, t.FMSPC[:]); err != nil {
		return nil, err
	}
	if err := docHex(docTCBInfo, "pceId", r.PCEID, t.PCEID[:]); err != nil {
		return nil, err
	}
	if r.TCBType == nil {
		return nil, docErr(docTCBInfo, "tcbType", "missing")
	}
	t.TCBType = *r.TCBType
	if r.TCBEvaluationDataNumber == nil {
		return nil, docErr(docTCBInfo, "tcbEvaluationDataNumber", "missing")
	}
	t.TCBEvaluationDataNumber = *r.TCBEvaluationDataNumber

	switch {
	case t.ID == TCBInfoIDSGX && r.TDXModule != nil:
		return nil, docErr(docTCBInfo, "tdxModule", "present in SGX TCB Info")
	case t.ID == TCBInfoIDSGX && r.TDXModuleIdentities != nil:
		return nil, docErr(docTCBInfo, "tdxModuleIdentities", "present in SGX TCB Info")
	case t.ID == TCBInfoIDTDX && r.TDXModule == nil:
		return nil, docErr(docTCBInfo, "tdxModule", "missing in TDX TCB Info")
	}
	if r.TDXModule != nil {
		t.TDXModule = &TDXModule{}
		if err := r.TDXModule.decode("tdxModule", &t.TDXModule.MRSigner, &t.TDXModule.Attributes, &t.TDXModule.AttributesMask); err != nil {
			return nil, err
		}
	}
	for i, rm := range r.TDXModuleIdentities {
		field := fmt.Sprintf("tdxModuleIdentities[%d]", i)
		m := TDXModuleIdentity{ID: rm.ID}
		if m.ID == "" {
			return nil, docErr(docTCBInfo, field+".id", "missing or empty")
		}
		if err := rm.decode(field, &m.MRSigner, &m.Attributes, &m.AttributesMask); err != nil {
			return nil, err
		}
		if m.TCBLevels, err = docEnclaveLevels(docTCBInfo, field+".tcbLevels", rm.TCBLevels); err != nil {
			return nil, err
		}
		for _, prev := range t.TDXModuleIdentities {
			if strings.EqualFold(prev.ID, m.ID) {
				return nil, docErr(docTCBInfo, field+".id", "duplicate module identity %q", m.ID)
			}
		}
		t.TDXModuleIdentities = append(t.TDXModuleIdentities, m)
	}

	if len(r.TCBLevels) == 0 {
		return nil, docErr(docTCBInfo, "tcbLevels", "missing or empty")
	}
	for i, rl := range r.TCBLevels {
		l, err := rl.decode(fmt.Sprintf("tcbLevels[%d]", i), t.IsTDX())
		if err != nil {
			return nil, err
		}
		t.TCBLevels = append(t.TCBLevels, l)
	}
	return t, nil
}

func (m *rawTDXModule) decode(field string, mrsigner *[48]byte, attr, mask *[8]byte) error {
	if err := docHex(docTCBInfo, field+".mrsigner", m.MRSigner, mrsigner[:]); err != nil {
		return err
	}
	if err := docHex(docTCBInfo, field+".attributes", m.Attributes, attr[:]); err != nil {
		return err
	}
	return docHex(docTCBInfo, field+".attributesMask", m.AttributesMask, mask[:])
}

func (rl *rawTCBLevel) decode(field string, tdx bool) (TCBLevel, error) {
	var l TCBLevel
	if rl.TCB == nil {
		return l, docErr(docTCBInfo, field+".tcb", "missing")
	}
	if rl.TCB.V2Comp01 != nil {
		return l, docErr(docTCBInfo, field+".tcb", "has the flat TCB Info v2 layout (sgxtcbcomp01svn ...) in a version 3 document")
	}
	if err := docComponents(field+".tcb.sgxtcbcomponents", rl.TCB.SGXComponents, &l.SGXComponents); err != nil {
		return l, err
	}
	if rl.TCB.PCESVN == nil {
		return l, docErr(docTCBInfo, field+".tcb.pcesvn", "missing")
	}
	l.PCESVN = *rl.TCB.PCESVN
	switch {
	case tdx:
		if err := docComponents(field+".tcb.tdxtcbcomponents", rl.TCB.TDXComponents, &l.TDXComponents); err != nil {
			return l, err
		}
		l.HasTDX = true
	case rl.TCB.TDXComponents != nil:
		return l, docErr(docTCBInfo, field+".tcb.tdxtcbcomponents", "present in SGX TCB Info")
	}
	var err error
	if l.TCBDate, err = docDate(docTCBInfo, field+".tcbDate", rl.TCBDate); err != nil {
		return l, err
	}
	if l.Status, err = docStatus(docTCBInfo, field+".tcbStatus", rl.TCBStatus); err != nil {
		return l, err
	}
	if l.AdvisoryIDs, err = docAdvisories(docTCBInfo, field+".advisoryIDs", rl.AdvisoryIDs); err != nil {
		return l, err
	}
	return l, nil
}

func docComponents(field string, in []rawComponent, out *[TCBComponentCount]TCBComponent) error {
	if in == nil {
		return docErr(docTCBInfo, field, "missing")
	}
	if len(in) != TCBComponentCount {
		return docErr(docTCBInfo, field, "has %d entries, want %d", len(in), TCBComponentCount)
	}
	for i, c := range in {
		if c.SVN == nil {
			return docErr(docTCBInfo, fmt.Sprintf("%s[%d].svn", field, i), "missing")
		}
		out[i] = TCBComponent{SVN: *c.SVN, Category: c.Category, Type: c.Type}
	}
	return nil
}

func docEnclaveLevels(doc, field string, in []rawEnclaveTCBLevel) ([]EnclaveTCBLevel, error) {
	if len(in) == 0 {
		return nil, docErr(doc, field, "missing or empty")
	}
	out := make([]EnclaveTCBLevel, 0, len(in))
	for i, rl := range in {
		f := fmt.Sprintf("%s[%d]", field, i)
		var l EnclaveTCBLevel
		if rl.TCB == nil || rl.TCB.ISVSVN == nil {
			return nil, docErr(doc, f+".tcb.isvsvn", "missing")
		}
		l.ISVSVN = *rl.TCB.ISVSVN
		var err error
		if l.TCBDate, err = docDate(doc, f+".tcbDate", rl.TCBDate); err != nil {
			return nil, err
		}
		if l.Status, err = docStatus(doc, f+".tcbStatus", rl.TCBStatus); err != nil {
			return nil, err
		}
		if l.AdvisoryIDs, err = docAdvisories(doc, f+".advisoryIDs", rl.AdvisoryIDs); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

func docDate(doc, field string, s *string) (time.Time, error) {
	if s == nil {
		return time.Time{}, docErr(doc, field, "missing")
	}
	t, err := time.Parse(time.RFC3339, *s)
	if err != nil {
		return time.Time{}, docErr(doc, field, "%q is not an RFC 3339 date", *s)
	}
	return t.UTC(), nil
}

func docHex(doc, field string, s *string, out []byte) error {
	if s == nil {
		return docErr(doc, field, "missing")
	}
	if len(*s) != 2*len(out) {
		return docErr(doc, field, "has %d hex digits, want %d", len(*s), 2*len(out))
	}
	if _, err := hex.Decode(out, []byte(*s)); err != nil {
		return docErr(doc, field, "%q is not hex", *s)
	}
	return nil
}

func docStatus(doc, field string, s *string) (TCBStatus, error) {
	if s == nil {
		return "", docErr(doc, field, "missing")
	}
	st := TCBStatus(*s)
	if !st.Valid() {
		return "", docErr(doc, field, "unknown TCB status %q", *s)
	}
	return st, nil
}

func docAdvisories(doc, field string, in *[]string) ([]string, error) {
	if in == nil {
		return nil, nil // advisoryIDs is optional
	}
	out := make([]string, 0, len(*in))
	for i, id := range *in {
		if strings.TrimSpace(id) == "" {
			return nil, docErr(doc, fmt.Sprintf("%s[%d]", field, i), "empty advisory ID")
		}
		out = append(out, id)
	}
	return out, nil
}
