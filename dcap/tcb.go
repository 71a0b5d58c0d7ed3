package dcap

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/sgxops/sgxops/collateral"
	"github.com/sgxops/sgxops/sgx"
)

// moduleIdentity returns the TDX module identity "TDX_<version>" of ti, or nil.
func moduleIdentity(ti *collateral.TCBInfo, version byte) *collateral.TDXModuleIdentity {
	id := fmt.Sprintf("TDX_%02X", version)
	for i := range ti.TDXModuleIdentities {
		if strings.EqualFold(ti.TDXModuleIdentities[i].ID, id) {
			return &ti.TDXModuleIdentities[i]
		}
	}
	return nil
}

// checkTDXModule compares the TD's TDX module (MRSIGNERSEAM, SEAMATTRIBUTES)
// with TCB Info: with the tdxModuleIdentities entry of the module's major
// version (TEE_TCB_SVN[1]) when it is above 0, otherwise with tdxModule.
func checkTDXModule(ti *collateral.TCBInfo, td *sgx.TDReportBody) error {
	if ti.TDXModule == nil {
		return errf(ReasonCollateralInvalid, "TDX TCB Info has no tdxModule")
	}
	mrsigner, attr, mask := ti.TDXModule.MRSigner, ti.TDXModule.Attributes, ti.TDXModule.AttributesMask
	source := "tdxModule"
	if v := td.TEETCBSVN[1]; v > 0 {
		if len(ti.TDXModuleIdentities) == 0 {
			return errf(ReasonCollateralInvalid, "TD runs TDX module major version %d but TCB Info has no tdxModuleIdentities", v)
		}
		m := moduleIdentity(ti, v)
		if m == nil {
			return errf(ReasonTDXModuleMismatch, "TCB Info has no identity TDX_%02X for the TD's TDX module major version", v)
		}
		mrsigner, attr, mask, source = m.MRSigner, m.Attributes, m.AttributesMask, m.ID
	}
	if td.MRSignerSEAM != mrsigner {
		return errf(ReasonTDXModuleMismatch, "MRSIGNERSEAM %x is not %s mrsigner %x", td.MRSignerSEAM, source, mrsigner)
	}
	// Intel's QVL requires SEAMATTRIBUTES to be zero (no debug or other
	// non-production TDX module), whatever the TCB Info mask says.
	if td.SEAMAttributes != [8]byte{} {
		return errf(ReasonTDXModuleMismatch, "SEAMATTRIBUTES %x is not zero", td.SEAMAttributes)
	}
	for i := range attr {
		if td.SEAMAttributes[i]&mask[i] != attr[i] {
			return errf(ReasonTDXModuleMismatch, "SEAMATTRIBUTES %x masked with %x is not %s attributes %x", td.SEAMAttributes, mask, source, attr)
		}
	}
	return nil
}

// matchQE checks the QE report against the QE Identity and returns the
// matched level and the QE status.
func matchQE(id *collateral.QEIdentity, r *sgx.ReportBody) (*collateral.EnclaveTCBLevel, Status, error) {
	var misc [4]byte
	binary.LittleEndian.PutUint32(misc[:], uint32(r.MiscSelect))
	for i := range misc {
		if misc[i]&id.MiscSelectMask[i] != id.MiscSelect[i] {
			return nil, 0, errf(ReasonQEIdentityMismatch, "QE MISCSELECT %x masked with %x is not %x", misc, id.MiscSelectMask, id.MiscSelect)
		}
	}
	attr := r.Attributes.Marshal()
	for i := range attr {
		if attr[i]&id.AttributesMask[i] != id.Attributes[i] {
			return nil, 0, errf(ReasonQEIdentityMismatch, "QE ATTRIBUTES %x masked with %x is not %x", attr, id.AttributesMask, id.Attributes)
		}
	}
	if r.MRSigner != id.MRSigner {
		return nil, 0, errf(ReasonQEIdentityMismatch, "QE MRSIGNER %x is not %x", r.MRSigner, id.MRSigner)
	}
	if r.ISVProdID != id.ISVProdID {
		return nil, 0, errf(ReasonQEIdentityMismatch, "QE ISVPRODID %d is not %d", r.ISVProdID, id.ISVProdID)
	}
	for i := range id.TCBLevels { // highest ISVSVN first
		l := &id.TCBLevels[i]
		if r.ISVSVN >= l.ISVSVN {
			st, err := enclaveStatusOf(l.Status, "QE Identity")
			return l, st, err
		}
	}
	return nil, 0, errf(ReasonNoMatchingTCBLevel, "QE ISVSVN %d is below every QE Identity TCB level", r.ISVSVN)
}

func sgxComponentsOK(pck *PCKExtensions, l *collateral.TCBLevel) bool {
	for i, c := range l.SGXComponents {
		if pck.TCBComponents[i] < c.SVN {
			return false
		}
	}
	return pck.PCESVN >= l.PCESVN
}

// tdxComponentsOK compares TEE_TCB_SVN with a level's tdxtcbcomponents. When
// the TDX module major version (byte 1) is above 0, bytes 0 and 1 are judged
// by the TDX module identity instead and skipped here.
func tdxComponentsOK(svn [16]byte, l *collateral.TCBLevel) bool {
	start := 0
	if svn[1] > 0 {
		start = 2
	}
	for i := start; i < len(svn); i++ {
		if svn[i] < l.TDXComponents[i].SVN {
			return false
		}
	}
	return true
}

// matchTCB finds the platform TCB level and converges the statuses the way
// Intel's QVL (TcbLevelCheck) does.
func matchTCB(ti *collateral.TCBInfo, pck *PCKExtensions, q *sgx.Quote, qe Status) (*tcbResult, error) {
	r := &tcbResult{}
	var sgxLevel, tdxLevel *collateral.TCBLevel
	for i := range ti.TCBLevels { // highest first
		l := &ti.TCBLevels[i]
		if !sgxComponentsOK(pck, l) {
			continue
		}
		if sgxLevel == nil {
			sgxLevel = l
		}
		if !q.IsTDX() {
			break
		}
		if tdxComponentsOK(q.TDBody.TEETCBSVN, l) {
			tdxLevel = l
			break
		}
	}
	if sgxLevel == nil {
		return nil, errf(ReasonNoMatchingTCBLevel, "PCK certificate TCB (components %v, PCESVN %d) is below every TCB Info level", pck.TCBComponents, pck.PCESVN)
	}
	sgxStatus, err := statusOf(sgxLevel.Status)
	if err != nil {
		return nil, err
	}
	if !q.IsTDX() {
		r.platform = sgxStatus
		r.status = convergeOutOfDate(sgxStatus, qe)
		r.addLevel(sgxLevel)
		return r, nil
	}

	svn := q.TDBody.TEETCBSVN
	if tdxLevel == nil {
		return nil, errf(ReasonNoMatchingTCBLevel, "TEE_TCB_SVN %x is below every TDX TCB level matching the platform", svn)
	}
	if r.platform, err = statusOf(tdxLevel.Status); err != nil {
		return nil, err
	}
	r.addLevel(tdxLevel)
	r.module = StatusUpToDate
	if svn[1] > 0 {
		m := moduleIdentity(ti, svn[1]) // present: checkTDXModule ran first
		if m == nil {
			return nil, errf(ReasonTDXModuleMismatch, "TCB Info has no identity TDX_%02X", svn[1])
		}
		var ml *collateral.EnclaveTCBLevel
		for i := range m.TCBLevels {
			if uint16(svn[0]) >= m.TCBLevels[i].ISVSVN {
				ml = &m.TCBLevels[i]
				break
			}
		}
		if ml == nil {
			return nil, errf(ReasonNoMatchingTCBLevel, "TDX module SVN %d is below every level of %s", svn[0], m.ID)
		}
		if r.module, err = enclaveStatusOf(ml.Status, "TDX module identity "+m.ID); err != nil {
			return nil, err
		}
		r.addEnclaveLevel(ml)
	}
	tdxStatus := convergeOutOfDate(r.platform, r.module)
	if tdxStatus == StatusRevoked {
		r.status = StatusRevoked
		return r, nil
	}
	if q.TDBody.Is15 {
		if tdxStatus, err = relaunchStatus(ti, q.TDBody.TEETCBSVN2, sgxStatus, tdxStatus, r.module, qe); err != nil {
			return nil, err
		}
	}
	r.status = convergeOutOfDate(tdxStatus, qe)
	return r, nil
}

// relaunchStatus applies Intel's TD relaunch rule (TDX 1.5 quotes): a TD whose
// TDX module is OutOfDate only because it was started before a TD-preserving
// module update, while TEE_TCB_SVN2 (the SVNs after the update) already meets
// the newest TCB level, is TDRelaunchAdvised(ConfigurationNeeded) instead of
// OutOfDate: relaunching it brings it up to date. It applies only when the QE
// is up to date, the SGX platform level is not OutOfDate/Revoked, the
// converged TDX status is OutOfDate(ConfigurationNeeded) and the module status
// is OutOfDate. TEE_TCB_SVN2 is judged against the highest TCB level: byte 2
// against its tdxtcbcomponents[2], byte 0 against tdxtcbcomponents[0] (module
// major version 0) or against the highest level of the module identity
// TDX_<byte 1>.
func relaunchStatus(ti *collateral.TCBInfo, svn2 [16]byte, sgxStatus, tdxStatus, module, qe Status) (Status, error) {
	if qe != StatusUpToDate || module != StatusOutOfDate {
		return tdxStatus, nil
	}
	switch sgxStatus {
	case StatusUpToDate, StatusSWHardeningNeeded, StatusConfigurationNeeded, StatusConfigurationAndSWHardeningNeeded:
	default:
		return tdxStatus, nil
	}
	if tdxStatus != StatusOutOfDate && tdxStatus != StatusOutOfDateConfigurationNeeded {
		return tdxStatus, nil
	}
	latest := &ti.TCBLevels[0]
	var ok bool
	if svn2[1] == 0 {
		ok = svn2[0] >= latest.TDXComponents[0].SVN && svn2[2] >= latest.TDXComponents[2].SVN
	} else {
		m := moduleIdentity(ti, svn2[1])
		if m == nil {
			return 0, errf(ReasonTDXModuleMismatch, "TCB Info has no identity TDX_%02X for TEE_TCB_SVN2's module version", svn2[1])
		}
		ok = uint16(svn2[0]) >= m.TCBLevels[0].ISVSVN && svn2[2] >= latest.TDXComponents[2].SVN
	}
	if !ok {
		return tdxStatus, nil
	}
	if sgxStatus.ConfigurationNeeded() || tdxStatus.ConfigurationNeeded() {
		return StatusTDRelaunchAdvisedConfigurationNeeded, nil
	}
	return StatusTDRelaunchAdvised, nil
}
