package attestd

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Error codes of the MAA error body {"error":{"code","message"}}. InvalidQuote
// and InvalidParameter are MAA's; the others are sgxops's choices where MAA's
// code is not documented (docs/limitations.md, "Choices made where the
// specifications are silent").
const (
	CodeInvalidParameter      = "InvalidParameter"
	CodeInvalidQuote          = "InvalidQuote"
	CodeRuntimeDataMismatch   = "InvalidRuntimeData"
	CodePolicyEvaluation      = "PolicyEvaluationError"
	CodeInvalidPolicy         = "InvalidPolicy"
	CodeUnauthorized          = "Unauthorized"
	CodeForbidden             = "Forbidden"
	CodeNotFound              = "NotFound"
	CodeMethodNotAllowed      = "MethodNotAllowed"
	CodeConflict              = "Conflict"
	CodeNotSupported          = "NotSupported"
	CodeCollateralUnavailable = "CollateralUnavailable"
	CodeUnavailable           = "ServiceUnavailable"
	CodeInternal              = "InternalError"
)

// APIError is an error with its HTTP status and MAA error code. Handlers
// return it; writeError renders it in MAA's error shape.
type APIError struct {
	Status  int
	Code    string
	Message string
	Err     error // cause, for logs; never sent to the client
	// RetryAfter, when positive, is sent as Retry-After (whole seconds).
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("attestd: %s (%d): %s: %v", e.Code, e.Status, e.Message, e.Err)
	}
	return fmt.Sprintf("attestd: %s (%d): %s", e.Code, e.Status, e.Message)
}

func (e *APIError) Unwrap() error { return e.Err }

func apiErrorf(status int, code, format string, args ...any) *APIError {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *APIError {
	return apiErrorf(http.StatusBadRequest, CodeInvalidParameter, format, args...)
}

// contentTypeJSON is sent on every JSON response, errors included: Go would
// otherwise sniff JSON as text/plain and the JS SDK would not parse it.
const contentTypeJSON = "application/json; charset=utf-8"

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError renders err in MAA's error shape. Errors that are not *APIError
// become 500 InternalError with a generic message (the cause is for logs).
func writeError(w http.ResponseWriter, err error) {
	var ae *APIError
	if !errors.As(err, &ae) {
		ae = &APIError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error", Err: err}
	}
	w.Header().Set("x-ms-error-code", ae.Code)
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((ae.RetryAfter+time.Second-1)/time.Second)))
	}
	writeJSON(w, ae.Status, errorBody{Error: errorDetail{Code: ae.Code, Message: ae.Message}})
}

// writeJSON writes v as JSON with the JSON content type.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"InternalError","message":"response encoding failed"}}`)
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeRawJSON writes pre-encoded JSON.
func writeRawJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
