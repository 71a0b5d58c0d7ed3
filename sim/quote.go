package sim

import (
	"crypto/sha256"
	"crypto/sha512"

	"github.com/sgxops/sgxops/sgx"
)

// Identity is the identity of a simulated SGX enclave.
type Identity struct {
	MREnclave [32]byte
	MRSigner  [32]byte
	ISVProdID uint16
	ISVSVN    uint16
	// Attributes of the enclave; set sgx.AttrDebug for a debug enclave. Zero
	// means DefaultAttributes.
	Attributes sgx.Attributes
	MiscSelect sgx.MiscSelect
	// CPUSVN reported by the enclave; zero means the platform's CPUSVN.
	CPUSVN [16]byte
	// ISVExtProdID, ConfigID, ConfigSVN and ISVFamilyID are the KSS fields.
	ISVExtProdID [16]byte
	ConfigID     [64]byte
	ConfigSVN    uint16
	ISVFamilyID  [16]byte
}

// TDIdentity is the identity of a simulated TD.
type TDIdentity struct {
	MRTD          [48]byte
	MRConfigID    [48]byte
	MROwner       [48]byte
	MROwnerConfig [48]byte
	RTMRs         [4][48]byte
	// TDAttributes as the TD quote carries them; zero means SEPT_VE_DISABLE
	// only (bit 28), the production setting. Bit 0 (TUD.DEBUG) marks a debug TD.
	TDAttributes [8]byte
	// XFAM; zero means x87|SSE|AVX (0xe7).
	XFAM [8]byte
	// ModuleSVNAtLaunch is the TDX module SVN when the TD was launched, before
	// a TD-preserving module update to the platform's current SVN. TD 1.5
	// quotes (TD15Quote) report it in TEE_TCB_SVN and the current SVN in
	// TEE_TCB_SVN2. Zero means the current SVN; TDQuote ignores it.
	ModuleSVNAtLaunch uint8
	// MRServiceTD (TD 1.5 quotes only).
	MRServiceTD [48]byte
}

// DefaultAttributes are the attributes of a launched 64-bit production
// enclave: INIT and MODE64BIT, XFRM x87|SSE.
var DefaultAttributes = sgx.Attributes{Flags: sgx.AttrInit | sgx.AttrMode64Bit, XFRM: sgx.XFRMX87 | sgx.XFRMSSE}

// DefaultTDAttributes has only SEPT_VE_DISABLE set.
var DefaultTDAttributes = [8]byte{0, 0, 0, 0x10, 0, 0, 0, 0}

// QEMRSigner is the MRSIGNER of the simulated quoting enclaves (not Intel's).
var QEMRSigner = sha256.Sum256([]byte("sgxops SIMULATED quoting enclave signer"))

// quoteUserData marks the header's user data of every simulated quote.
var quoteUserData = [20]byte{'s', 'g', 'x', 'o', 'p', 's', ' ', 'S', 'I', 'M', 'U', 'L', 'A', 'T', 'E', 'D', ' ', 'Q', 'E'}

// qeAuthData is the QE authentication data (as Intel's QE: bytes 0..31).
var qeAuthData = func() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}()

// qeReportTemplate is the report body of the simulated QE (SGX) or TD QE
// (TDX) without its report data. The caller holds p.mu.
func (p *Platform) qeReportTemplate(tee TEE) sgx.ReportBody {
	r := sgx.ReportBody{
		CPUSVN:     sgxLevelFor(p.cfg.TCBStatus).sgx,
		Attributes: sgx.Attributes{Flags: sgx.AttrInit | sgx.AttrMode64Bit | sgx.AttrProvisionKey, XFRM: sgx.XFRMX87 | sgx.XFRMSSE},
		MRSigner:   QEMRSigner,
		ISVProdID:  qeProdID,
		ISVSVN:     p.cfg.QESVN,
	}
	name := "sgxops SIMULATED quoting enclave"
	if tee == TEETDX {
		name = "sgxops SIMULATED TD quoting enclave"
		r.ISVProdID = tdqeProdID
	}
	r.MREnclave = sha256.Sum256([]byte(name))
	return r
}

// sign completes q's signature data: the QE report binding the attestation
// key, signed by the PCK key, and the attestation key's signature over
// header ‖ body. The caller holds p.mu.
func (p *Platform) signQuote(q *sgx.Quote, tee TEE) ([]byte, error) {
	ak, err := rawPublicKey(&p.keys.attestation.PublicKey)
	if err != nil {
		return nil, err
	}
	qe := p.qeReportTemplate(tee)
	h := sha256.Sum256(append(ak[:], qeAuthData...))
	copy(qe.ReportData[:32], h[:])
	qeSig, err := signRaw(p.keys.pck, qe.Marshal())
	if err != nil {
		return nil, err
	}
	q.Header.AttestationKeyType = sgx.AttestationKeyECDSAP256
	q.Header.QESVN = qe.ISVSVN
	q.Header.PCESVN = sgxLevelFor(p.cfg.TCBStatus).pcesvn
	q.Header.QEVendorID = sgx.IntelQEVendorID
	q.Header.UserData = quoteUserData
	q.Signature = sgx.ECDSASignatureData{
		AttestationKey:    ak,
		QEReport:          qe,
		QEReportSignature: qeSig,
		QEAuthData:        append([]byte(nil), qeAuthData...),
		CertData:          sgx.CertificationData{Type: sgx.CertPCKChain, Data: pemCert(p.certs.pck, p.certs.pckCA(p.cfg.PCKCA), p.certs.root)},
	}
	if q.Signature.Signature, err = signRaw(p.keys.attestation, q.SignedData()); err != nil {
		return nil, err
	}
	return q.Marshal(), nil
}

// Quote produces a DCAP v3 SGX quote for an enclave with identity id and the
// given report data, as this platform's (simulated) quoting enclave would.
func (p *Platform) Quote(id Identity, reportData [64]byte) ([]byte, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	body := &sgx.ReportBody{
		CPUSVN: id.CPUSVN, MiscSelect: id.MiscSelect, ISVExtProdID: id.ISVExtProdID,
		Attributes: id.Attributes, MREnclave: id.MREnclave, MRSigner: id.MRSigner,
		ConfigID: id.ConfigID, ISVProdID: id.ISVProdID, ISVSVN: id.ISVSVN, ConfigSVN: id.ConfigSVN,
		ISVFamilyID: id.ISVFamilyID, ReportData: reportData,
	}
	if body.CPUSVN == [16]byte{} {
		body.CPUSVN = sgxLevelFor(p.cfg.TCBStatus).sgx
	}
	if body.Attributes == (sgx.Attributes{}) {
		body.Attributes = DefaultAttributes
	}
	q := &sgx.Quote{
		Header:   sgx.Header{Version: sgx.QuoteV3, TEEType: sgx.TEETypeSGX},
		BodyType: sgx.BodyTypeSGX,
		SGXBody:  body,
	}
	return p.signQuote(q, TEESGX)
}

// TDQuote produces a DCAP v4 TDX quote (TDX 1.0 body) for a TD with identity
// id and the given report data, as this platform's (simulated) TD quoting
// enclave would.
func (p *Platform) TDQuote(id TDIdentity, reportData [64]byte) ([]byte, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	q := &sgx.Quote{
		Header:   sgx.Header{Version: sgx.QuoteV4, TEEType: sgx.TEETypeTDX},
		BodyType: sgx.BodyTypeTD10,
		TDBody:   p.tdBody(id, reportData),
	}
	return p.signQuote(q, TEETDX)
}

// TD15Quote produces a DCAP v5 TDX quote with a TDX 1.5 body (TEE_TCB_SVN2,
// MRSERVICETD). With id.ModuleSVNAtLaunch below the platform's TDX module SVN
// it is the quote of a TD that should be relaunched after a TD-preserving
// module update (status TDRelaunchAdvised).
func (p *Platform) TD15Quote(id TDIdentity, reportData [64]byte) ([]byte, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	body := p.tdBody(id, reportData)
	body.Is15 = true
	body.TEETCBSVN2 = body.TEETCBSVN
	if id.ModuleSVNAtLaunch != 0 {
		body.TEETCBSVN[0] = id.ModuleSVNAtLaunch
	}
	body.MRServiceTD = id.MRServiceTD
	q := &sgx.Quote{
		Header:   sgx.Header{Version: sgx.QuoteV5, TEEType: sgx.TEETypeTDX},
		BodyType: sgx.BodyTypeTD15,
		TDBody:   body,
	}
	return p.signQuote(q, TEETDX)
}

// tdBody is the TD report body of id on this platform. The caller holds p.mu.
func (p *Platform) tdBody(id TDIdentity, reportData [64]byte) *sgx.TDReportBody {
	body := &sgx.TDReportBody{
		TEETCBSVN: teeTCBSVN(p.cfg.TCBStatus, p.cfg.TDXModuleSVN),
		// MRSEAM identifies the TDX module; MRSIGNERSEAM is zero for Intel's module.
		MRSEAM:        sha384Of("sgxops SIMULATED TDX module"),
		TDAttributes:  id.TDAttributes,
		XFAM:          id.XFAM,
		MRTD:          id.MRTD,
		MRConfigID:    id.MRConfigID,
		MROwner:       id.MROwner,
		MROwnerConfig: id.MROwnerConfig,
		RTMRs:         id.RTMRs,
		ReportData:    reportData,
	}
	if body.TDAttributes == [8]byte{} {
		body.TDAttributes = DefaultTDAttributes
	}
	if body.XFAM == [8]byte{} {
		body.XFAM = [8]byte{0xe7}
	}
	return body
}

func sha384Of(s string) [48]byte { return sha512.Sum384([]byte(s)) }
