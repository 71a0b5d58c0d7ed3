package attestd

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/policy"
	"github.com/sgxops/sgxops/registry"
)

// managementTokenLifetime is MAA's lifetime of policy and certificate
// management response tokens.
const managementTokenLifetime = time.Hour

// managementToken signs a policy/certificate management response body.
func (s *Server) managementToken(extra map[string]any) (map[string]string, error) {
	now := s.now()
	c := map[string]any{"iss": s.cfg.Issuer, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(managementTokenLifetime).Unix()}
	for k, v := range extra {
		c[k] = v
	}
	tok, err := s.key.Load().Sign(c)
	if err != nil {
		return nil, err
	}
	return map[string]string{"token": tok}, nil
}

// handlePolicies serves GET/PUT /policies/{type} and POST
// /policies/{type}:reset. The ServeMux captures "SgxEnclave:reset" as one
// segment, so the action is split off here.
func (s *Server) handlePolicies(w http.ResponseWriter, r *http.Request) error {
	spec := r.PathValue("spec")
	name, action, _ := strings.Cut(spec, ":")
	typ, supported, known := canonicalType(name)
	switch {
	case !known:
		return apiErrorf(http.StatusNotFound, CodeNotFound, "unknown attestation type %q", name)
	case action != "" && !strings.EqualFold(action, "reset"):
		return apiErrorf(http.StatusNotFound, CodeNotFound, "unknown policy action %q", action)
	}
	var method string
	switch {
	case action == "" && r.Method == http.MethodGet:
		method = "get"
	case action == "" && r.Method == http.MethodPut:
		method = "set"
	case action != "" && r.Method == http.MethodPost:
		method = "reset"
	default:
		return apiErrorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "%s is not allowed on %s", r.Method, r.URL.Path)
	}
	role := config.RoleAdmin
	if method == "get" {
		role = config.RoleReader
	}
	p, aerr := s.auth.require(r, role)
	if aerr != nil {
		s.metrics.adminOps.WithLabelValues("policy-"+method, "unauthorized").Inc()
		return aerr
	}
	if _, err := checkAPIVersion(r); err != nil {
		return err
	}
	if !supported {
		return badRequest("attestation type %s is not supported by attestd (SgxEnclave, OpenEnclave, TdxVm and SevSnpVm are)", typ)
	}
	var err error
	switch method {
	case "get":
		err = s.getPolicy(w, r, typ)
	case "set":
		err = s.setPolicy(w, r, typ, p)
	default:
		err = s.resetPolicy(w, r, typ, p)
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	s.metrics.adminOps.WithLabelValues("policy-"+method, result).Inc()
	return err
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request, typ string) error {
	pol, err := s.policies.get(r.Context(), typ)
	if err != nil {
		return err
	}
	body, err := s.managementToken(map[string]any{"x-ms-policy": pol.jws})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// readPolicyJWS reads and authorizes a policy-management JWS: signed by a
// policy-management certificate (configured or added), or unsigned only when
// Policy.AllowUnsigned (AAD mode) is set.
func (s *Server) readPolicyJWS(r *http.Request) (*policyJWS, error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxRequestBytes))
	if err != nil {
		return nil, badRequest("reading the request body: %v", err)
	}
	pj, err := decodePolicyJWS(body)
	if err != nil {
		return nil, err
	}
	if pj.Signer == nil {
		if !s.cfg.Policy.AllowUnsigned {
			return nil, forbidden("unsigned (alg none) policy JWS refused: sign it with a configured policy-signing certificate (isolated mode)")
		}
		return pj, nil
	}
	ok, err := s.signers.trusts(r.Context(), pj.Signer)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, forbidden("policy JWS is signed by %q, which is not a policy-management certificate", pj.Signer.Subject.String())
	}
	return pj, nil
}

func (s *Server) setPolicy(w http.ResponseWriter, r *http.Request, typ string, p *Principal) error {
	pj, err := s.readPolicyJWS(r)
	if err != nil {
		return err
	}
	if !pj.HasPolicy || strings.TrimSpace(pj.Text) == "" {
		return badRequest("policy JWS payload has no AttestationPolicy")
	}
	if _, err := policy.Parse(pj.Text); err != nil {
		return apiErrorf(http.StatusBadRequest, CodeInvalidPolicy, "%s", trimPrefix(err.Error()))
	}
	if _, err := s.reg.SetPolicy(r.Context(), p.Name, typ, pj.Text, pj.Compact); err != nil {
		return registryError(err)
	}
	s.policies.invalidate(typ)
	s.log.Info("policy set", "type", typ, "actor", p.Name, "jws", pj.String(), "policy_hash", policy.PolicyHash(pj.Text))
	claims := map[string]any{"x-ms-policy-result": "Updated", "x-ms-policy-token-hash": policy.PolicyTokenHash(pj.Compact)}
	if pj.Signer != nil {
		claims["x-ms-policy-signer"] = policySignerJWK(pj.Signer)
	}
	body, err := s.managementToken(claims)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

func (s *Server) resetPolicy(w http.ResponseWriter, r *http.Request, typ string, p *Principal) error {
	pj, err := s.readPolicyJWS(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(pj.Payload)) != 0 {
		// A reset JWS has an empty payload. No other signed document (a
		// set-policy JWS, which GET /policies hands to readers, or a
		// certificate-management JWS) may authorize a reset.
		return badRequest("policy reset JWS must have an empty payload")
	}
	if err := s.reg.ResetPolicy(r.Context(), p.Name, typ); err != nil {
		return registryError(err)
	}
	s.policies.invalidate(typ)
	s.log.Info("policy reset", "type", typ, "actor", p.Name, "jws", pj.String())
	body, err := s.managementToken(map[string]any{"x-ms-policy-result": "Removed"})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// registryError maps registry and store errors to API errors.
// busyRetryAfter is the Retry-After of a write that waited its turn too long.
const busyRetryAfter = time.Second

func registryError(err error) error {
	msg := trimPrefix(err.Error())
	switch {
	case errors.Is(err, registry.ErrBusy):
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: msg, Err: err, RetryAfter: busyRetryAfter}
	case isNotFound(err):
		return &APIError{Status: http.StatusNotFound, Code: CodeNotFound, Message: msg, Err: err}
	case isConflict(err):
		return &APIError{Status: http.StatusConflict, Code: CodeConflict, Message: msg, Err: err}
	case isInvalid(err):
		return &APIError{Status: http.StatusBadRequest, Code: CodeInvalidParameter, Message: msg, Err: err}
	}
	return err
}
