package sim

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/sgxops/sgxops/sgx"
)

// TEE selects SGX or TDX collateral.
type TEE string

// TEE kinds, named as the PCS paths name them.
const (
	TEESGX TEE = "sgx"
	TEETDX TEE = "tdx"
)

// JSON layouts of Intel's TCB Info v3 and Enclave Identity v2. Field order
// follows Intel's responses; the marshalled bytes are what gets signed.
type (
	tcbInfoJSON struct {
		ID                      string                  `json:"id"`
		Version                 int                     `json:"version"`
		IssueDate               string                  `json:"issueDate"`
		NextUpdate              string                  `json:"nextUpdate"`
		FMSPC                   string                  `json:"fmspc"`
		PCEID                   string                  `json:"pceId"`
		TCBType                 int                     `json:"tcbType"`
		TCBEvaluationDataNumber int                     `json:"tcbEvaluationDataNumber"`
		TDXModule               *tdxModuleJSON          `json:"tdxModule,omitempty"`
		TDXModuleIdentities     []tdxModuleIdentityJSON `json:"tdxModuleIdentities,omitempty"`
		TCBLevels               []tcbLevelJSON          `json:"tcbLevels"`
	}
	tdxModuleJSON struct {
		MRSigner       string `json:"mrsigner"`
		Attributes     string `json:"attributes"`
		AttributesMask string `json:"attributesMask"`
	}
	tdxModuleIdentityJSON struct {
		ID             string         `json:"id"`
		MRSigner       string         `json:"mrsigner"`
		Attributes     string         `json:"attributes"`
		AttributesMask string         `json:"attributesMask"`
		TCBLevels      []tcbLevelJSON `json:"tcbLevels"`
	}
	tcbLevelJSON struct {
		TCB         tcbJSON  `json:"tcb"`
		TCBDate     string   `json:"tcbDate"`
		TCBStatus   string   `json:"tcbStatus"`
		AdvisoryIDs []string `json:"advisoryIDs,omitempty"`
	}
	tcbJSON struct {
		SGXComponents []componentJSON `json:"sgxtcbcomponents,omitempty"`
		PCESVN        *uint16         `json:"pcesvn,omitempty"`
		TDXComponents []componentJSON `json:"tdxtcbcomponents,omitempty"`
		ISVSVN        *uint16         `json:"isvsvn,omitempty"`
	}
	componentJSON struct {
		SVN      byte   `json:"svn"`
		Category string `json:"category,omitempty"`
		Type     string `json:"type,omitempty"`
	}
	enclaveIdentityJSON struct {
		ID                      string         `json:"id"`
		Version                 int            `json:"version"`
		IssueDate               string         `json:"issueDate"`
		NextUpdate              string         `json:"nextUpdate"`
		TCBEvaluationDataNumber int            `json:"tcbEvaluationDataNumber"`
		MiscSelect              string         `json:"miscselect"`
		MiscSelectMask          string         `json:"miscselectMask"`
		Attributes              string         `json:"attributes"`
		AttributesMask          string         `json:"attributesMask"`
		MRSigner                string         `json:"mrsigner"`
		ISVProdID               uint16         `json:"isvprodid"`
		TCBLevels               []tcbLevelJSON `json:"tcbLevels"`
	}
)

// tcbEvaluationDataNumber of all simulated collateral.
const tcbEvaluationDataNumber = 1

func intelTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

func upperHex(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

func components(svns [16]byte, names [][2]string) []componentJSON {
	out := make([]componentJSON, 16)
	for i, s := range svns {
		out[i].SVN = s
		if i < len(names) {
			out[i].Category, out[i].Type = names[i][0], names[i][1]
		}
	}
	return out
}

var (
	sgxComponentNames = [][2]string{{"BIOS", "Early Microcode Update"}, {"OS/VMM", "SGX Late Microcode Update"}, {"OS/VMM", "TXT SINIT"}, {"BIOS", ""}}
	tdxComponentNames = [][2]string{{"OS/VMM", "TDX Module"}, {"OS/VMM", "TDX Module"}, {"OS/VMM", "TDX Late Microcode Update"}}
)

// tcbInfoBody renders the signed "tcbInfo" JSON for tee.
func (p *Platform) tcbInfoBody(tee TEE, issue, next time.Time) ([]byte, error) {
	info := tcbInfoJSON{
		ID: "SGX", Version: 3, IssueDate: intelTime(issue), NextUpdate: intelTime(next),
		FMSPC: hex.EncodeToString(p.cfg.FMSPC[:]), PCEID: hex.EncodeToString(p.cfg.PCEID[:]),
		TCBEvaluationDataNumber: tcbEvaluationDataNumber,
	}
	zeroSigner := upperHex(make([]byte, 48))
	if tee == TEETDX {
		info.ID = "TDX"
		info.TDXModule = &tdxModuleJSON{MRSigner: zeroSigner, Attributes: "0000000000000000", AttributesMask: "FFFFFFFFFFFFFFFF"}
		info.TDXModuleIdentities = []tdxModuleIdentityJSON{{
			ID: "TDX_01", MRSigner: zeroSigner, Attributes: "0000000000000000", AttributesMask: "FFFFFFFFFFFFFFFF",
			TCBLevels: enclaveLevels(tdxModuleLevels),
		}}
	}
	for _, l := range tcbLevels {
		pce := l.pcesvn
		lj := tcbLevelJSON{
			TCB:     tcbJSON{SGXComponents: components(l.sgx, sgxComponentNames), PCESVN: &pce},
			TCBDate: l.date, TCBStatus: string(l.status), AdvisoryIDs: l.advisories,
		}
		if tee == TEETDX {
			lj.TCB.TDXComponents = components(l.tdx, tdxComponentNames)
		}
		info.TCBLevels = append(info.TCBLevels, lj)
	}
	return json.Marshal(info)
}

// qeIdentityBody renders the signed "enclaveIdentity" JSON of the QE (SGX) or
// the TD QE (TDX).
func (p *Platform) qeIdentityBody(tee TEE, issue, next time.Time) ([]byte, error) {
	qe := p.qeReportTemplate(tee)
	// Like Intel's, the identity masks out MODE64BIT and the whole XFRM.
	attrs := sgx.Attributes{Flags: qe.Attributes.Flags &^ sgx.AttrMode64Bit}.Marshal()
	id := enclaveIdentityJSON{
		ID: "QE", Version: 2, IssueDate: intelTime(issue), NextUpdate: intelTime(next),
		TCBEvaluationDataNumber: tcbEvaluationDataNumber,
		MiscSelect:              "00000000", MiscSelectMask: "FFFFFFFF",
		Attributes:     upperHex(attrs[:]),
		AttributesMask: "FBFFFFFFFFFFFFFF0000000000000000",
		MRSigner:       upperHex(qe.MRSigner[:]),
		ISVProdID:      qe.ISVProdID,
	}
	if tee == TEETDX {
		id.ID = "TD_QE"
	}
	id.TCBLevels = enclaveLevels(qeLevels)
	return json.Marshal(id)
}

// enclaveLevels renders ISVSVN-keyed levels (QE Identity, TDX module identity).
func enclaveLevels(levels []qeLevel) []tcbLevelJSON {
	var out []tcbLevelJSON
	for _, l := range levels {
		svn := l.isvsvn
		out = append(out, tcbLevelJSON{TCB: tcbJSON{ISVSVN: &svn}, TCBDate: l.date, TCBStatus: string(l.status), AdvisoryIDs: l.advisories})
	}
	return out
}
