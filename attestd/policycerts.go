package attestd

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/store"
)

// policySigners are the policy-management certificates: those of the
// configuration (fixed) and those added over the API (stored, cached for
// stateTTL so that other replicas' changes are seen).
type policySigners struct {
	configured []*x509.Certificate
	stored     ttlCache[[]*x509.Certificate]
}

func newPolicySigners(configured []*x509.Certificate, reg *registry.Registry, now func() time.Time) *policySigners {
	return &policySigners{configured: configured, stored: ttlCache[[]*x509.Certificate]{now: now, load: func(ctx context.Context) ([]*x509.Certificate, error) {
		rec, err := reg.PolicyCerts(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]*x509.Certificate, 0, len(rec.Certs))
		for _, c := range rec.Certs {
			cert, err := x509.ParseCertificate(c.DER)
			if err != nil {
				// The registry parsed it before storing it.
				return nil, errors.Join(store.ErrCorrupt, err)
			}
			out = append(out, cert)
		}
		return out, nil
	}}}
}

func (p *policySigners) invalidate() { p.stored.invalidate() }

// all returns the configured certificates followed by the stored ones.
func (p *policySigners) all(ctx context.Context) ([]*x509.Certificate, error) {
	stored, err := p.stored.get(ctx)
	if err != nil {
		return nil, err
	}
	return append(append([]*x509.Certificate(nil), p.configured...), stored...), nil
}

func (p *policySigners) isConfigured(c *x509.Certificate) bool {
	for _, x := range p.configured {
		if bytes.Equal(x.Raw, c.Raw) {
			return true
		}
	}
	return false
}

// trusts reports whether c is a policy-management certificate.
func (p *policySigners) trusts(ctx context.Context, c *x509.Certificate) (bool, error) {
	all, err := p.all(ctx)
	if err != nil {
		return false, err
	}
	for _, x := range all {
		if bytes.Equal(x.Raw, c.Raw) {
			return true, nil
		}
	}
	return false, nil
}

// handleCertificates lists the policy-management certificates (configured
// and added) as MAA's GET /certificates does.
func (s *Server) handleCertificates(w http.ResponseWriter, r *http.Request) error {
	if _, aerr := s.auth.require(r, config.RoleReader); aerr != nil {
		return aerr
	}
	if _, err := checkAPIVersion(r); err != nil {
		return err
	}
	certs, err := s.signers.all(r.Context())
	if err != nil {
		return err
	}
	keys := make([]map[string]any, 0, len(certs))
	for _, c := range certs {
		k := policySignerJWK(c)
		k["use"] = "sig"
		keys = append(keys, k)
	}
	body, err := s.managementToken(map[string]any{"x-ms-policy-certificates": map[string]any{"keys": keys}})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, body)
	return nil
}

// handleCertificateOps answers POST /certificates:add and :remove. The body
// is a JWS (a JSON string literal, as MAA clients send it, or raw) signed by
// an existing policy-management certificate, whose payload names the
// certificate: {"policyCertificate":{"kty":..,"x5c":["<base64 DER>"]}}
// ("maa-policyCertificate" in preview clients). Certificates from the
// configuration cannot be removed over the API, and the last one never.
func (s *Server) handleCertificateOps(w http.ResponseWriter, r *http.Request) error {
	op := r.PathValue("certop")
	if op != "certificates:add" && op != "certificates:remove" {
		return apiErrorf(http.StatusNotFound, CodeNotFound, "no such endpoint: POST %s", r.URL.Path)
	}
	p, aerr := s.auth.require(r, config.RoleAdmin)
	if aerr != nil {
		return aerr
	}
	if _, err := checkAPIVersion(r); err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxRequestBytes))
	if err != nil {
		return badRequest("reading the request body: %v", err)
	}
	pj, err := decodePolicyJWS(body)
	if err != nil {
		return err
	}
	if pj.Signer == nil {
		return forbidden("certificate management needs a JWS signed by an existing policy-management certificate, not alg none")
	}
	ok, err := s.signers.trusts(r.Context(), pj.Signer)
	if err != nil {
		return err
	}
	if !ok {
		return forbidden("certificate-management JWS is signed by %q, which is not a policy-management certificate", pj.Signer.Subject.String())
	}
	cert, err := certificateOfPayload(pj.Payload)
	if err != nil {
		return err
	}
	tp := store.PolicyCertThumbprint(cert.Raw)
	result := "IsPresent"
	if op == "certificates:add" {
		if !s.signers.isConfigured(cert) {
			if _, err := s.reg.AddPolicyCert(r.Context(), p.Name, cert.Raw); err != nil {
				return registryError(err)
			}
		}
	} else {
		if s.signers.isConfigured(cert) {
			return badRequest("certificate %s comes from attestd's configuration (policy.signingCerts); remove it there", tp)
		}
		if _, err := s.reg.RemovePolicyCert(r.Context(), p.Name, cert.Raw, len(s.signers.configured) > 0); err != nil {
			if errors.Is(err, registry.ErrLastPolicyCert) {
				return badRequest("certificate %s is the last policy-management certificate and cannot be removed", tp)
			}
			return registryError(err)
		}
		result = "IsAbsent"
	}
	s.signers.invalidate()
	s.log.Info("policy certificate "+op[len("certificates:"):], "thumbprint", tp, "subject", cert.Subject.String(), "actor", p.Name, "jws", pj.String())
	tok, err := s.managementToken(map[string]any{"x-ms-certificate-thumbprint": tp, "x-ms-policycertificates-result": result})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tok)
	return nil
}

// certificateOfPayload reads the certificate a certificate-management JWS
// names.
func certificateOfPayload(payload []byte) (*x509.Certificate, error) {
	type jwk struct {
		X5C []string `json:"x5c"`
	}
	var body struct {
		GA      *jwk `json:"policyCertificate"`
		Preview *jwk `json:"maa-policyCertificate"`
	}
	if err := json.Unmarshal(payload, &body); err != nil {
		return nil, badRequest("certificate-management JWS payload is not a JSON object: %v", err)
	}
	k := body.GA
	if k == nil {
		k = body.Preview
	}
	if k == nil {
		return nil, badRequest("certificate-management JWS payload has no policyCertificate")
	}
	if len(k.X5C) == 0 {
		return nil, badRequest("policyCertificate has no x5c certificate")
	}
	der, err := DecodeBase64("policyCertificate.x5c[0]", k.X5C[0])
	if err != nil {
		return nil, badRequest("%s", trimPrefix(err.Error()))
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, badRequest("policyCertificate.x5c[0] is not a certificate: %v", err)
	}
	return c, nil
}
