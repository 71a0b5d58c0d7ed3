package release

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// TEE names the kind of identity a release holds.
type TEE string

// The TEEs a release can name.
const (
	TEESGX    TEE = "sgx"      // MREnclave or MRSigner
	TEETDX    TEE = "tdx"      // MRTD
	TEESEVSNP TEE = "sevsnpvm" // MEASUREMENT
)

// TEE returns the TEE whose identity r holds: TDX when MRTD (or another TDX
// field) is set, SEV-SNP when MEASUREMENT (or another SNP field) is set,
// SGX otherwise.
func (r Release) TEE() TEE {
	switch {
	case r.MRTD != "" || r.RTMRs != [4]string{} || r.MRSEAM != "":
		return TEETDX
	case r.Measurement != "" || r.HostData != "" || r.FamilyID != "" || r.ImageID != "":
		return TEESEVSNP
	}
	return TEESGX
}

// normalizeCVM validates a TDX or SEV-SNP identity: its required
// measurement, optional fields of the right size, and no field of another
// TEE (so that nothing is silently ignored).
func normalizeCVM(r Release) (Release, error) {
	if r.MREnclave != "" || r.MRSigner != "" || r.ISVProdID != 0 || r.MinISVSVN != 0 {
		return Release{}, fieldErr("mrenclave", "SGX fields (mrenclave, mrsigner, isv_prod_id, min_isv_svn) must be empty for a %s release", r.TEE())
	}
	var err error
	switch r.TEE() {
	case TEETDX:
		if r.Measurement != "" || r.HostData != "" || r.FamilyID != "" || r.ImageID != "" {
			return Release{}, fieldErr("measurement", "SEV-SNP fields must be empty for a TDX release")
		}
		if r.MRTD == "" {
			return Release{}, fieldErr("mrtd", "required for a TDX release")
		}
		if r.MRTD, err = normalizeHex("mrtd", r.MRTD, 48, false); err != nil {
			return Release{}, err
		}
		{
			for i, v := range r.RTMRs {
				if v == "" {
					continue
				}
				// An RTMR may legitimately be all zero (nothing extended).
				if r.RTMRs[i], err = normalizeHex(fmt.Sprintf("rtmrs[%d]", i), v, 48, true); err != nil {
					return Release{}, err
				}
			}
		}
		if r.MRSEAM != "" {
			if r.MRSEAM, err = normalizeHex("mrseam", r.MRSEAM, 48, false); err != nil {
				return Release{}, err
			}
		}
	case TEESEVSNP:
		if r.Measurement == "" {
			return Release{}, fieldErr("measurement", "required for an SEV-SNP release")
		}
		if r.Measurement, err = normalizeHex("measurement", r.Measurement, 48, false); err != nil {
			return Release{}, err
		}
		for _, f := range []struct {
			name string
			v    *string
			n    int
		}{{"host_data", &r.HostData, 32}, {"family_id", &r.FamilyID, 16}, {"image_id", &r.ImageID, 16}} {
			if *f.v != "" {
				// HOST_DATA, FAMILY_ID and IMAGE_ID may be all zero on purpose.
				if *f.v, err = normalizeHex(f.name, *f.v, f.n, true); err != nil {
					return Release{}, err
				}
			}
		}
	}
	return r, nil
}

// normalizeHex lowercases n bytes given as 2n hex characters.
func normalizeHex(field, s string, n int, zeroOK bool) (string, error) {
	if len(s) != 2*n {
		return "", fieldErr(field, "want %d hex characters (%d bytes), got %d characters", 2*n, n, len(s))
	}
	zero := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		case c < utf8.RuneSelf:
			return "", &FieldError{Field: field, Offset: i, Reason: fmt.Sprintf("invalid hex character %q", rune(c))}
		default:
			return "", &FieldError{Field: field, Offset: i, Reason: fmt.Sprintf("invalid hex byte 0x%02x", c)}
		}
		if c != '0' {
			zero = false
		}
	}
	if zero && !zeroOK {
		return "", fieldErr(field, "all zero, not a measurement")
	}
	return strings.ToLower(s), nil
}

// sameCVM reports a stored CVM field that is not in normalised form.
func sameCVM(n, r Release) error {
	switch {
	case n.MRTD != r.MRTD:
		return fieldErr("mrtd", "not lowercase hex")
	case n.RTMRs != r.RTMRs:
		return fieldErr("rtmrs", "not lowercase hex")
	case n.MRSEAM != r.MRSEAM:
		return fieldErr("mrseam", "not lowercase hex")
	case n.Measurement != r.Measurement:
		return fieldErr("measurement", "not lowercase hex")
	case n.HostData != r.HostData, n.FamilyID != r.FamilyID, n.ImageID != r.ImageID:
		return fieldErr("host_data", "not lowercase hex")
	}
	return nil
}

// cvmIdentityKey is IdentityKey for TDX and SEV-SNP releases:
// "mrtd:<hex>[:rtmrs:<a>,<b>,<c>,<d>][:mrseam:<hex>]" or
// "measurement:<hex>[:host_data:..][:family_id:..][:image_id:..]".
func (r Release) cvmIdentityKey() string {
	var b strings.Builder
	add := func(k, v string) {
		if v != "" {
			b.WriteString(":" + k + ":" + v)
		}
	}
	if r.TEE() == TEETDX {
		b.WriteString("mrtd:" + r.MRTD)
		if r.RTMRs != [4]string{} {
			add("rtmrs", strings.Join(r.RTMRs[:], ","))
		}
		add("mrseam", r.MRSEAM)
		return b.String()
	}
	b.WriteString("measurement:" + r.Measurement)
	add("host_data", r.HostData)
	add("family_id", r.FamilyID)
	add("image_id", r.ImageID)
	return b.String()
}

// CVMIdentityDetails returns the identity fields of a TDX or SEV-SNP
// release by their JSON names (for audit records); nil for SGX releases.
func (r Release) CVMIdentityDetails() map[string]string {
	var d map[string]string
	set := func(k, v string) {
		if v != "" {
			d[k] = v
		}
	}
	switch r.TEE() {
	case TEETDX:
		d = map[string]string{"mrtd": r.MRTD}
		if r.RTMRs != [4]string{} {
			d["rtmrs"] = strings.Join(r.RTMRs[:], ",")
		}
		set("mrseam", r.MRSEAM)
	case TEESEVSNP:
		d = map[string]string{"measurement": r.Measurement}
		set("host_data", r.HostData)
		set("family_id", r.FamilyID)
		set("image_id", r.ImageID)
	}
	return d
}
