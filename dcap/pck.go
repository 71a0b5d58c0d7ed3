package dcap

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
)

// OIDSGXExtensions is the PCK certificate extension that carries the SGX
// platform values (Intel SGX PCK Certificate and CRL Profile).
var OIDSGXExtensions = asn1.ObjectIdentifier{1, 2, 840, 113741, 1, 13, 1}

// PCKExtensions are the values of a PCK certificate's SGX extension that
// verification needs.
type PCKExtensions struct {
	PPID [16]byte
	// TCBComponents are the 16 SGX TCB component SVNs the certificate was issued
	// for (matched against TCB Info sgxtcbcomponents).
	TCBComponents [16]byte
	PCESVN        uint16
	CPUSVN        [16]byte
	PCEID         [2]byte
	FMSPC         [6]byte
	// SGXType is 0 (Standard), 1 (Scalable) or 2 (Scalable with integrity);
	// -1 if absent. It is reported, not judged.
	SGXType int
}

// PCKCertificateExtensions parses the SGX extension of a PCK certificate.
func PCKCertificateExtensions(cert *x509.Certificate) (*PCKExtensions, error) {
	var found []byte
	for _, e := range cert.Extensions {
		if e.Id.Equal(OIDSGXExtensions) {
			if found != nil {
				return nil, errf(ReasonChainInvalid, "PCK certificate has two SGX extensions")
			}
			found = e.Value
		}
	}
	if found == nil {
		return nil, errf(ReasonChainInvalid, "PCK certificate has no SGX extension (OID %v)", OIDSGXExtensions)
	}
	return parseSGXExtensions(found)
}

type sgxExtAttr struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue
}

func extErr(format string, args ...any) *Error {
	return errf(ReasonChainInvalid, "PCK certificate SGX extension: "+format, args...)
}

// parseSGXExtensions decodes the DER value of the SGX extension. Every value
// sgxops uses must be present exactly once with its defined size.
func parseSGXExtensions(der []byte) (*PCKExtensions, error) {
	var attrs []sgxExtAttr
	rest, err := asn1.Unmarshal(der, &attrs)
	if err != nil {
		return nil, wrapf(ReasonChainInvalid, err, "PCK certificate SGX extension")
	}
	if len(rest) != 0 {
		return nil, extErr("%d trailing bytes", len(rest))
	}
	x := &PCKExtensions{SGXType: -1}
	seen := map[int]bool{}
	for _, a := range attrs {
		if len(a.ID) != len(OIDSGXExtensions)+1 || !a.ID[:len(OIDSGXExtensions)].Equal(OIDSGXExtensions) {
			continue // not an SGX value (none are defined); ignore like unknown extensions
		}
		n := a.ID[len(OIDSGXExtensions)]
		if seen[n] {
			return nil, extErr("value %v appears twice", a.ID)
		}
		seen[n] = true
		switch n {
		case 1:
			err = octets(a, "PPID", x.PPID[:])
		case 2:
			err = parseTCBExt(a.Value, x)
		case 3:
			err = octets(a, "PCE-ID", x.PCEID[:])
		case 4:
			err = octets(a, "FMSPC", x.FMSPC[:])
		case 5:
			var e asn1.Enumerated
			if _, err = asn1.Unmarshal(a.Value.FullBytes, &e); err == nil && e < 0 {
				err = fmt.Errorf("SGX type %d is negative", e)
			}
			x.SGXType = int(e)
		}
		if err != nil {
			return nil, wrapf(ReasonChainInvalid, err, "PCK certificate SGX extension %v", a.ID)
		}
	}
	for n, name := range []string{1: "PPID", 2: "TCB", 3: "PCE-ID", 4: "FMSPC"} {
		if n > 0 && !seen[n] {
			return nil, extErr("%s (%v.%d) missing", name, OIDSGXExtensions, n)
		}
	}
	return x, nil
}

func octets(a sgxExtAttr, name string, out []byte) error {
	var b []byte
	rest, err := asn1.Unmarshal(a.Value.FullBytes, &b)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if len(rest) != 0 || len(b) != len(out) {
		return fmt.Errorf("%s is %d bytes, want %d", name, len(b), len(out))
	}
	copy(out, b)
	return nil
}

// parseTCBExt decodes the TCB value: 16 component SVNs, PCESVN and CPUSVN.
func parseTCBExt(v asn1.RawValue, x *PCKExtensions) error {
	var attrs []sgxExtAttr
	rest, err := asn1.Unmarshal(v.FullBytes, &attrs)
	if err != nil {
		return fmt.Errorf("TCB: %w", err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("TCB: %d trailing bytes", len(rest))
	}
	prefix := append(append(asn1.ObjectIdentifier{}, OIDSGXExtensions...), 2)
	seen := map[int]bool{}
	for _, a := range attrs {
		if len(a.ID) != len(prefix)+1 || !a.ID[:len(prefix)].Equal(prefix) {
			return fmt.Errorf("TCB: unexpected value %v", a.ID)
		}
		n := a.ID[len(prefix)]
		if seen[n] {
			return fmt.Errorf("TCB: value %v appears twice", a.ID)
		}
		seen[n] = true
		switch {
		case n >= 1 && n <= 16:
			var svn int
			if rest, err := asn1.Unmarshal(a.Value.FullBytes, &svn); err != nil || len(rest) != 0 || svn < 0 || svn > 255 {
				return fmt.Errorf("TCB component %d is not an SVN 0..255", n)
			}
			x.TCBComponents[n-1] = byte(svn)
		case n == 17:
			var svn int
			if rest, err := asn1.Unmarshal(a.Value.FullBytes, &svn); err != nil || len(rest) != 0 || svn < 0 || svn > 0xffff {
				return fmt.Errorf("PCESVN is not 0..65535")
			}
			x.PCESVN = uint16(svn)
		case n == 18:
			if err := octets(a, "CPUSVN", x.CPUSVN[:]); err != nil {
				return err
			}
		default:
			return fmt.Errorf("TCB: unexpected value %v", a.ID)
		}
	}
	if len(seen) != 18 {
		return fmt.Errorf("TCB has %d of the 18 values (16 components, PCESVN, CPUSVN)", len(seen))
	}
	return nil
}
