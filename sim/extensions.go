package sim

import (
	"encoding/asn1"
	"fmt"
)

// OIDs of the Intel SGX PCK certificate extension ("Intel SGX PCK Certificate
// and CRL Profile"): a SEQUENCE of (OID, value) pairs under 1.2.840.113741.1.13.1.
var (
	oidSGXExtension      = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1}
	oidPPID              = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 1}
	oidTCB               = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 2}
	oidPCEID             = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 3}
	oidFMSPC             = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 4}
	oidSGXType           = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 5}
	oidPlatformInstance  = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 6}
	oidConfiguration     = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 7}
	oidDynamicPlatform   = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 7, 1}
	oidCachedKeys        = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 7, 2}
	oidSMTEnabled        = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1, 7, 3}
	oidTCBComponentFirst = 1  // .2.1 … .2.16 are the 16 SGX TCB component SVNs
	oidTCBPCESVN         = 17 // .2.17
	oidTCBCPUSVN         = 18 // .2.18
)

// SGX Type values of the extension (ENUMERATED).
const (
	sgxTypeStandard = 0
	sgxTypeScalable = 1
)

// pckExtensionValues is what a PCK certificate states about its platform.
type pckExtensionValues struct {
	PPID       [16]byte
	CPUSVN     [16]byte // the 16 TCB component SVNs, also carried as one OCTET STRING
	PCESVN     uint16
	PCEID      [2]byte
	FMSPC      [6]byte
	SGXType    int
	PlatformCA bool     // certificates of the Platform CA carry PlatformInstanceID and Configuration
	InstanceID [16]byte // only with PlatformCA
}

func pair(id asn1.ObjectIdentifier, v any) (asn1.RawValue, error) {
	b, err := asn1.Marshal(struct {
		ID asn1.ObjectIdentifier
		V  any
	}{id, v})
	if err != nil {
		return asn1.RawValue{}, fmt.Errorf("sim: encoding SGX extension %v: %w", id, err)
	}
	return asn1.RawValue{FullBytes: b}, nil
}

func sub(base asn1.ObjectIdentifier, n int) asn1.ObjectIdentifier {
	return append(append(asn1.ObjectIdentifier{}, base...), n)
}

// marshalSGXExtension encodes the value of the 1.2.840.113741.1.13.1 extension.
func marshalSGXExtension(v pckExtensionValues) ([]byte, error) {
	var tcb []asn1.RawValue
	for i := 0; i < 16; i++ {
		c, err := pair(sub(oidTCB, oidTCBComponentFirst+i), int(v.CPUSVN[i]))
		if err != nil {
			return nil, err
		}
		tcb = append(tcb, c)
	}
	pce, err := pair(sub(oidTCB, oidTCBPCESVN), int(v.PCESVN))
	if err != nil {
		return nil, err
	}
	cpu, err := pair(sub(oidTCB, oidTCBCPUSVN), v.CPUSVN[:])
	if err != nil {
		return nil, err
	}
	tcb = append(tcb, pce, cpu)

	items := []struct {
		id asn1.ObjectIdentifier
		v  any
	}{
		{oidPPID, v.PPID[:]},
		{oidTCB, tcb},
		{oidPCEID, v.PCEID[:]},
		{oidFMSPC, v.FMSPC[:]},
		{oidSGXType, asn1.Enumerated(v.SGXType)},
	}
	if v.PlatformCA {
		var conf []asn1.RawValue
		for _, f := range []struct {
			id asn1.ObjectIdentifier
			on bool
		}{{oidDynamicPlatform, false}, {oidCachedKeys, true}, {oidSMTEnabled, true}} {
			c, err := pair(f.id, f.on)
			if err != nil {
				return nil, err
			}
			conf = append(conf, c)
		}
		items = append(items,
			struct {
				id asn1.ObjectIdentifier
				v  any
			}{oidPlatformInstance, v.InstanceID[:]},
			struct {
				id asn1.ObjectIdentifier
				v  any
			}{oidConfiguration, conf})
	}
	var seq []asn1.RawValue
	for _, it := range items {
		p, err := pair(it.id, it.v)
		if err != nil {
			return nil, err
		}
		seq = append(seq, p)
	}
	return asn1.Marshal(seq)
}
