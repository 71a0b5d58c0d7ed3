package maaclient

import "fmt"

// Reason classifies why a token was rejected.
type Reason int

// The reasons; String gives a stable code.
const (
	ReasonMalformed     Reason = iota + 1 // not a well-formed JWS/JWT with the expected claim types
	ReasonAlgorithm                       // alg is not RS256 (alg none included)
	ReasonHeader                          // typ is not JWT, or kid missing
	ReasonKeyURL                          // jku is not issuer + "/certs"
	ReasonUnknownKey                      // kid not in the issuer's /certs
	ReasonSignature                       // the signature does not verify
	ReasonIssuer                          // iss is not the pinned issuer
	ReasonExpired                         // exp has passed
	ReasonNotYetValid                     // nbf or iat is in the future
	ReasonDebug                           // debug enclave, not allowed
	ReasonSimulated                       // evidence from the simulated platform, not allowed
	ReasonRuntimeData                     // report data or enclave-held data do not bind the runtime data
	ReasonMeasurement                     // a measurement or a pinned TEE field (MRENCLAVE, MRTD, RTMR, HOST_DATA...) not as expected
	ReasonRelease                         // sgxops app or release not as expected
	ReasonNonce                           // nonce claim not as expected
	ReasonNoExpectation                   // the expectations name no identity (CVM: or no TEE kind, or are unusable)
	ReasonKeys                            // the signing keys could not be fetched
	ReasonTEEKind                         // the token is for another TEE (x-ms-attestation-type)
)

var reasonCodes = map[Reason]string{
	ReasonMalformed: "malformed", ReasonAlgorithm: "algorithm", ReasonHeader: "header", ReasonKeyURL: "key_url",
	ReasonUnknownKey: "unknown_key", ReasonSignature: "signature", ReasonIssuer: "issuer", ReasonExpired: "expired",
	ReasonNotYetValid: "not_yet_valid", ReasonDebug: "debug", ReasonSimulated: "simulated", ReasonRuntimeData: "runtime_data",
	ReasonMeasurement: "measurement", ReasonRelease: "release", ReasonNonce: "nonce", ReasonNoExpectation: "no_expectation",
	ReasonKeys: "keys", ReasonTEEKind: "tee_kind",
}

// String returns the stable code, e.g. "signature".
func (r Reason) String() string {
	if s, ok := reasonCodes[r]; ok {
		return s
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// Error is a rejected token. Match a reason with errors.Is(err, &Error{Reason: r})
// or read it with errors.As.
type Error struct {
	Reason Reason
	Msg    string
	Err    error
}

func (e *Error) Error() string {
	s := "maaclient: token rejected (" + e.Reason.String() + "): " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches another *Error with the same Reason and no message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Msg == "" && t.Err == nil && t.Reason == e.Reason
}

func rejectf(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Msg: fmt.Sprintf(format, args...)}
}

// ServiceError is an error answer of the attestation service in MAA's shape
// {"error":{"code","message"}}.
type ServiceError struct {
	StatusCode int
	Code       string
	Message    string
}

func (e *ServiceError) Error() string {
	return fmt.Sprintf("maaclient: service answered HTTP %d %s: %s", e.StatusCode, e.Code, e.Message)
}
