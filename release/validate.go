package release

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxNameLen is the longest app or release name (a DNS label).
const MaxNameLen = 63

// MaxReasonLen is the longest revocation reason, in bytes.
const MaxReasonLen = 1024

// ValidateName checks that s is a valid app or release name: a DNS label
// (RFC 1123) of 1 to 63 characters from a-z, 0-9 and '-', starting and ending
// with a letter or digit. field names the field in the error.
func ValidateName(field, s string) error {
	if s == "" {
		return fieldErr(field, "required")
	}
	if len(s) > MaxNameLen {
		return fieldErr(field, "longer than %d characters", MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i != 0 && i != len(s)-1:
		case c == '-':
			return &FieldError{Field: field, Offset: i, Reason: "must start and end with a letter or digit"}
		case c >= utf8.RuneSelf:
			return &FieldError{Field: field, Offset: i, Reason: fmt.Sprintf("invalid byte 0x%02x (want a-z, 0-9 or '-')", c)}
		default:
			return &FieldError{Field: field, Offset: i, Reason: fmt.Sprintf("invalid character %q (want a-z, 0-9 or '-')", rune(c))}
		}
	}
	return nil
}

// normalizeHex32 lowercases a 32-byte measurement given as 64 hex
// characters and rejects anything else, including the all-zero value.
func normalizeHex32(field, s string) (string, error) {
	if len(s) != 64 {
		return "", fieldErr(field, "want 64 hex characters (32 bytes), got %d characters", len(s))
	}
	zero := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			if c < utf8.RuneSelf {
				return "", &FieldError{Field: field, Offset: i, Reason: fmt.Sprintf("invalid hex character %q", rune(c))}
			}
			return "", &FieldError{Field: field, Offset: i, Reason: fmt.Sprintf("invalid hex byte 0x%02x", c)}
		}
		if c != '0' {
			zero = false
		}
	}
	if zero {
		return "", fieldErr(field, "all zero, not a measurement")
	}
	return strings.ToLower(s), nil
}

// Normalize validates the names and the identity of r and returns r with
// its measurements in lowercase hex. It does not look at the state fields.
//
// The identity is either MREnclave alone (MRSigner, ISVProdID and MinISVSVN
// must then be zero, so that nothing is silently ignored), or MRSigner with
// ISVProdID and MinISVSVN.
func Normalize(r Release) (Release, error) {
	if err := ValidateName("app", r.App); err != nil {
		return Release{}, err
	}
	if err := ValidateName("name", r.Name); err != nil {
		return Release{}, err
	}
	if r.TEE() != TEESGX {
		return normalizeCVM(r)
	}
	var err error
	if r.MREnclave != "" {
		if r.MREnclave, err = normalizeHex32("mrenclave", r.MREnclave); err != nil {
			return Release{}, err
		}
		switch {
		case r.MRSigner != "":
			return Release{}, fieldErr("mrsigner", "must be empty when mrenclave is set")
		case r.ISVProdID != 0:
			return Release{}, fieldErr("isv_prod_id", "must be 0 when mrenclave is set")
		case r.MinISVSVN != 0:
			return Release{}, fieldErr("min_isv_svn", "must be 0 when mrenclave is set")
		}
		return r, nil
	}
	if r.MRSigner == "" {
		return Release{}, fieldErr("mrenclave", "an identity is required: mrenclave, or mrsigner with isv_prod_id and min_isv_svn")
	}
	if r.MRSigner, err = normalizeHex32("mrsigner", r.MRSigner); err != nil {
		return Release{}, err
	}
	return r, nil
}

// Valid reports whether s is one of the lifecycle states.
func (s State) Valid() bool {
	switch s {
	case Candidate, Active, Draining, Retired, Revoked:
		return true
	}
	return false
}

// Validate checks a stored release: names, identity in normalised form, a
// known state, and fields consistent with the state (DrainUntil only when
// draining, RevokedReason exactly when revoked, timestamps set).
func (r Release) Validate() error {
	n, err := Normalize(r)
	if err != nil {
		return err
	}
	if n.MREnclave != r.MREnclave {
		return fieldErr("mrenclave", "not lowercase hex")
	}
	if n.MRSigner != r.MRSigner {
		return fieldErr("mrsigner", "not lowercase hex")
	}
	if err := sameCVM(n, r); err != nil {
		return err
	}
	if !r.State.Valid() {
		return fieldErr("state", "unknown state %q", r.State)
	}
	if r.CreatedAt.IsZero() {
		return fieldErr("created_at", "required")
	}
	if r.UpdatedAt.Before(r.CreatedAt) {
		return fieldErr("updated_at", "before created_at")
	}
	if (r.State == Draining) != !r.DrainUntil.IsZero() {
		return fieldErr("drain_until", "must be set exactly when the state is draining")
	}
	if r.State == Revoked {
		return validateReason(r.RevokedReason)
	}
	if r.RevokedReason != "" {
		return fieldErr("revoked_reason", "must be empty unless revoked")
	}
	return nil
}

func validateReason(reason string) error {
	switch {
	case strings.TrimSpace(reason) == "":
		return fieldErr("revoked_reason", "required")
	case len(reason) > MaxReasonLen:
		return fieldErr("revoked_reason", "longer than %d bytes", MaxReasonLen)
	case !utf8.ValidString(reason):
		return fieldErr("revoked_reason", "not valid UTF-8")
	}
	return nil
}

// IdentityKey returns a string that is equal for two normalised releases
// exactly when they name the same enclave identity: "mrenclave:<hex>" or
// "mrsigner:<hex>:prodid:<n>:minsvn:<n>".
func (r Release) IdentityKey() string {
	if r.TEE() != TEESGX {
		return r.cvmIdentityKey()
	}
	if r.MREnclave != "" {
		return "mrenclave:" + r.MREnclave
	}
	return fmt.Sprintf("mrsigner:%s:prodid:%d:minsvn:%d", r.MRSigner, r.ISVProdID, r.MinISVSVN)
}
