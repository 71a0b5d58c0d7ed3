package collateral

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Source gets the collateral for one request: an offline bundle, Intel PCS, a
// PCCS, Azure THIM, or a Cache in front of one of them. Implementations are safe
// for concurrent use. An invalid Request gives a *RequestError; every other
// error wraps ErrUnavailable or ErrInvalid.
type Source interface {
	Get(ctx context.Context, req Request) (*Collateral, error)
}

// TEE names accepted in Request.TEE.
const (
	TEESGX = "sgx"
	TEETDX = "tdx"
)

// PCK CA names accepted in Request.PCKCA: the intermediate CA that issued the
// quote's PCK certificate, which selects the PCK CRL.
const (
	PCKCAProcessor = "processor"
	PCKCAPlatform  = "platform"
)

// Request says which collateral is wanted. Values are matched case-insensitively;
// Normalize returns the canonical (lower-case) form used as a cache key.
type Request struct {
	// TEE is "sgx" or "tdx": which TCB Info and QE Identity to get.
	TEE string
	// FMSPC is the platform's FMSPC from its PCK certificate: 6 bytes as 12 hex digits.
	FMSPC string
	// PCKCA is "processor" or "platform": the issuer of the PCK certificate.
	PCKCA string
}

// RequestError reports an invalid Request, naming the field.
type RequestError struct {
	Field  string
	Value  string
	Reason string
}

func (e *RequestError) Error() string {
	return fmt.Sprintf("collateral: request %s %q: %s", e.Field, e.Value, e.Reason)
}

// Normalize returns r in canonical form (lower case, surrounding space trimmed)
// after checking it; see Validate.
func (r Request) Normalize() (Request, error) {
	n := Request{
		TEE:   strings.ToLower(strings.TrimSpace(r.TEE)),
		FMSPC: strings.ToLower(strings.TrimSpace(r.FMSPC)),
		PCKCA: strings.ToLower(strings.TrimSpace(r.PCKCA)),
	}
	switch n.TEE {
	case TEESGX, TEETDX:
	default:
		return Request{}, &RequestError{Field: "TEE", Value: r.TEE, Reason: `must be "sgx" or "tdx"`}
	}
	if len(n.FMSPC) != 12 {
		return Request{}, &RequestError{Field: "FMSPC", Value: r.FMSPC, Reason: fmt.Sprintf("must be 12 hex digits, got %d characters", len(n.FMSPC))}
	}
	if _, err := hex.DecodeString(n.FMSPC); err != nil {
		return Request{}, &RequestError{Field: "FMSPC", Value: r.FMSPC, Reason: "not hex"}
	}
	switch n.PCKCA {
	case PCKCAProcessor, PCKCAPlatform:
	default:
		return Request{}, &RequestError{Field: "PCKCA", Value: r.PCKCA, Reason: `must be "processor" or "platform"`}
	}
	return n, nil
}

// Validate reports whether r names a TEE ("sgx"/"tdx"), a 12-hex-digit FMSPC and
// a PCK CA ("processor"/"platform"). The error is a *RequestError.
func (r Request) Validate() error {
	_, err := r.Normalize()
	return err
}

// String renders r for messages, e.g. "sgx FMSPC 00a067110000 (processor CA)".
func (r Request) String() string {
	return fmt.Sprintf("%s FMSPC %s (%s CA)", r.TEE, r.FMSPC, r.PCKCA)
}

// Sentinel errors of the sources. Every fetch error wraps exactly one of them.
var (
	// ErrUnavailable means the collateral could not be obtained: network failure,
	// timeout, an HTTP error status (404 unknown FMSPC, 5xx), or a source that
	// does not hold collateral for the request.
	ErrUnavailable = errors.New("collateral unavailable")
	// ErrInvalid means a response or collateral set was obtained but is malformed:
	// bad JSON, a missing issuer-chain header, a non-hex signature, an unparsable
	// CRL, or a TCB Info for another FMSPC than requested.
	ErrInvalid = errors.New("collateral invalid")
)

// FetchError reports a failed collateral request. It unwraps to its Kind
// (ErrUnavailable or ErrInvalid) and to its cause.
type FetchError struct {
	// URL is the request URL, empty when the failure is not tied to one request.
	// It never contains the API key (that travels in a header).
	URL string
	// Field names the part of the response at fault: a header name, "body",
	// "tcbInfo", "signature", "tcbInfo.fmspc" ...; empty for transport failures.
	Field string
	// Status is the HTTP status code, 0 when no response was received.
	Status int
	// Kind is ErrUnavailable or ErrInvalid.
	Kind error
	// Err is the underlying cause, if any.
	Err error
}

func (e *FetchError) Error() string {
	var b strings.Builder
	b.WriteString("collateral: ")
	if e.URL != "" {
		b.WriteString("GET " + e.URL + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, "HTTP %d: ", e.Status)
	}
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
	} else {
		b.WriteString("failed")
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the kind and the cause, so errors.Is matches both.
func (e *FetchError) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Bundle is a Source that answers with one fixed collateral set, typically an
// offline bundle read with ParseBundle. Get checks that the set is for the
// requested TEE, FMSPC and PCK CA, so a wrong bundle fails with a clear error
// instead of a confusing verification failure.
type Bundle struct {
	// Collateral is the fixed set. Nil makes every Get fail with ErrUnavailable.
	Collateral *Collateral
}

// Get returns a copy of the bundle's collateral if it matches req; otherwise an
// error wrapping ErrUnavailable (or ErrInvalid if the bundle itself is malformed).
func (b *Bundle) Get(ctx context.Context, req Request) (*Collateral, error) {
	n, err := req.Normalize()
	if err != nil {
		return nil, err
	}
	if b == nil || b.Collateral == nil {
		return nil, &FetchError{Field: "bundle", Kind: ErrUnavailable, Err: errors.New("no bundle loaded")}
	}
	s, err := Summarize(b.Collateral)
	if err != nil {
		return nil, err
	}
	if s.TEE != n.TEE || s.FMSPC != n.FMSPC {
		return nil, &FetchError{Field: "bundle", Kind: ErrUnavailable,
			Err: fmt.Errorf("bundle holds %s collateral for FMSPC %s, the request is for %s FMSPC %s", s.TEE, s.FMSPC, n.TEE, n.FMSPC)}
	}
	if s.PCKCA != "" && s.PCKCA != n.PCKCA {
		return nil, &FetchError{Field: "bundle", Kind: ErrUnavailable,
			Err: fmt.Errorf("bundle's PCK CRL is from the %s CA, the request needs the %s CA's", s.PCKCA, n.PCKCA)}
	}
	return cloneCollateral(b.Collateral), nil
}

// cloneCollateral returns a deep copy, so callers may not alter a shared set.
func cloneCollateral(c *Collateral) *Collateral {
	cp := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		return append(make([]byte, 0, len(b)), b...)
	}
	return &Collateral{
		PCKCRLIssuerChain:     cp(c.PCKCRLIssuerChain),
		RootCACRL:             cp(c.RootCACRL),
		PCKCRL:                cp(c.PCKCRL),
		TCBInfoIssuerChain:    cp(c.TCBInfoIssuerChain),
		TCBInfo:               cp(c.TCBInfo),
		TCBInfoSignature:      cp(c.TCBInfoSignature),
		QEIdentityIssuerChain: cp(c.QEIdentityIssuerChain),
		QEIdentity:            cp(c.QEIdentity),
		QEIdentitySignature:   cp(c.QEIdentitySignature),
		PCKCertificateChain:   cp(c.PCKCertificateChain),
	}
}
