package attestd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
)

// The admin API (/admin/v1) manages releases and reads the audit log. Every
// change goes through the registry: validated, audited in the hash chain,
// durable when acknowledged.
//
//	GET  /admin/v1/releases[/{app}]                  list        reader
//	POST /admin/v1/releases                          register    admin   (201)
//	GET  /admin/v1/releases/{app}/{name}             show        reader
//	POST /admin/v1/releases/{app}/{name}/activate    {"grace":"1h"}      admin
//	POST /admin/v1/releases/{app}/{name}/drain       {"grace":"1h"}      admin
//	POST /admin/v1/releases/{app}/{name}/retire                          admin
//	POST /admin/v1/releases/{app}/{name}/revoke      {"reason":"..."}    admin
//	POST /admin/v1/sweep                             retire drain-expired admin
//	GET  /admin/v1/audit[?after=N&limit=M]           the log     anonymous (paged, see auditpage.go)
//	GET  /admin/v1/audit/verify                      verify it   anonymous
//
// The audit log is readable anonymously: it is the transparency record
// relying parties may check.

// maxAdminBody bounds admin request bodies.
const maxAdminBody = 64 << 10

// registerRequest is the body of POST /admin/v1/releases.
type registerRequest struct {
	App       string `json:"app"`
	Name      string `json:"name"`
	MREnclave string `json:"mrenclave,omitempty"`
	MRSigner  string `json:"mrsigner,omitempty"`
	ISVProdID uint16 `json:"isv_prod_id"`
	MinISVSVN uint16 `json:"min_isv_svn"`
	// TDX identity: MRTD, optionally the four RTMRs ("" for any) and MRSEAM.
	MRTD   string    `json:"mrtd,omitempty"`
	RTMRs  [4]string `json:"rtmrs,omitzero"`
	MRSEAM string    `json:"mrseam,omitempty"`
	// SEV-SNP identity: MEASUREMENT, optionally HOST_DATA, FAMILY_ID and IMAGE_ID.
	Measurement string `json:"measurement,omitempty"`
	HostData    string `json:"host_data,omitempty"`
	FamilyID    string `json:"family_id,omitempty"`
	ImageID     string `json:"image_id,omitempty"`
}

// transitionRequest is the optional body of activate, drain and revoke.
type transitionRequest struct {
	// Grace for activate (demoted release) and drain; empty: the
	// configured default.
	Grace string `json:"grace,omitempty"`
	// Reason for revoke (required there).
	Reason string `json:"reason,omitempty"`
}

// releaseList is the body of the list endpoints.
type releaseList struct {
	Releases []registry.View `json:"releases"`
}

func decodeBody(r *http.Request, v any, optional bool) error {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxAdminBody))
	if err != nil {
		return badRequest("reading the request body: %v", err)
	}
	if optional && len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return badRequest("request body: %v", err)
	}
	return nil
}

func (s *Server) admin(r *http.Request, op, role string) (*Principal, error) {
	p, err := s.auth.require(r, role)
	if err != nil {
		s.metrics.adminOps.WithLabelValues(op, "unauthorized").Inc()
		s.log.Warn("admin call refused", "op", op, "status", err.Status, "reason", err.Message, "remote", r.RemoteAddr, "request_id", requestID(r.Context()))
		return nil, err
	}
	return p, nil
}

func (s *Server) done(op string, err error) error {
	result := "ok"
	if err != nil {
		result = "error"
		err = registryError(err)
	}
	s.metrics.adminOps.WithLabelValues(op, result).Inc()
	return err
}

func (s *Server) handleListReleases(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.admin(r, "list", config.RoleReader); err != nil {
		return err
	}
	app := r.PathValue("app")
	if app != "" {
		if err := release.ValidateName("app", app); err != nil {
			return badRequest("%s", trimPrefix(err.Error()))
		}
	}
	views, err := s.reg.List(r.Context(), app)
	if err != nil {
		return s.done("list", err)
	}
	if views == nil {
		views = []registry.View{}
	}
	writeJSON(w, http.StatusOK, releaseList{Releases: views})
	return nil
}

func (s *Server) handleGetRelease(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.admin(r, "show", config.RoleReader); err != nil {
		return err
	}
	v, err := s.reg.Get(r.Context(), r.PathValue("app"), r.PathValue("name"))
	if err != nil {
		return s.done("show", err)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) error {
	p, err := s.admin(r, "register", config.RoleAdmin)
	if err != nil {
		return err
	}
	var req registerRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	v, err := s.reg.Register(r.Context(), p.Name, release.Release{
		App: req.App, Name: req.Name, MREnclave: req.MREnclave, MRSigner: req.MRSigner,
		ISVProdID: req.ISVProdID, MinISVSVN: req.MinISVSVN,
		MRTD: req.MRTD, RTMRs: req.RTMRs, MRSEAM: req.MRSEAM,
		Measurement: req.Measurement, HostData: req.HostData, FamilyID: req.FamilyID, ImageID: req.ImageID,
	})
	if err != nil {
		return s.done("register", err)
	}
	s.trust.invalidate()
	s.log.Info("release registered", "app", v.App, "release", v.Name, "identity", v.IdentityKey(), "actor", p.Name)
	writeJSON(w, http.StatusCreated, v)
	return s.done("register", nil)
}

func (s *Server) handleTransition(w http.ResponseWriter, r *http.Request) error {
	op := r.PathValue("op")
	switch op {
	case "activate", "drain", "retire", "revoke":
	default:
		return apiErrorf(http.StatusNotFound, CodeNotFound, "unknown release operation %q (activate, drain, retire, revoke)", op)
	}
	p, err := s.admin(r, op, config.RoleAdmin)
	if err != nil {
		return err
	}
	var req transitionRequest
	if err := decodeBody(r, &req, true); err != nil {
		return err
	}
	grace := time.Duration(s.cfg.Appraisal.DrainGrace)
	if req.Grace != "" {
		if grace, err = time.ParseDuration(req.Grace); err != nil || grace < 0 {
			return badRequest("grace %q is not a non-negative duration like \"30m\"", req.Grace)
		}
	}
	app, name := r.PathValue("app"), r.PathValue("name")
	ctx := r.Context()
	var v registry.View
	switch op {
	case "activate":
		v, err = s.reg.Activate(ctx, p.Name, app, name, grace)
	case "drain":
		v, err = s.reg.Drain(ctx, p.Name, app, name, grace)
	case "retire":
		v, err = s.reg.Retire(ctx, p.Name, app, name)
	case "revoke":
		if req.Reason == "" {
			return badRequest("revoke needs a reason")
		}
		v, err = s.reg.Revoke(ctx, p.Name, app, name, req.Reason)
	}
	if err != nil {
		return s.done(op, err)
	}
	s.trust.invalidate()
	s.log.Info("release "+op, "app", app, "release", name, "state", string(v.State), "actor", p.Name)
	writeJSON(w, http.StatusOK, v)
	return s.done(op, nil)
}

func (s *Server) handleSweep(w http.ResponseWriter, r *http.Request) error {
	p, err := s.admin(r, "sweep", config.RoleAdmin)
	if err != nil {
		return err
	}
	views, err := s.reg.Sweep(r.Context(), p.Name)
	if err != nil {
		return s.done("sweep", err)
	}
	s.trust.invalidate()
	if views == nil {
		views = []registry.View{}
	}
	writeJSON(w, http.StatusOK, releaseList{Releases: views})
	return s.done("sweep", nil)
}

// AuditVerification is the body of GET /admin/v1/audit/verify.
type AuditVerification struct {
	Valid   bool       `json:"valid"`
	Entries uint64     `json:"entries"`
	Head    audit.Head `json:"head"`
	Error   string     `json:"error,omitempty"`
}

func (s *Server) handleAuditVerify(w http.ResponseWriter, r *http.Request) error {
	st, err := s.reg.VerifyAudit(r.Context())
	var ce *audit.ChainError
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, AuditVerification{Valid: true, Entries: st.Entries, Head: st.Head})
	case errors.As(err, &ce):
		s.log.Error("audit log verification failed", "err", err.Error())
		writeJSON(w, http.StatusOK, AuditVerification{Valid: false, Entries: st.Entries, Head: st.Head, Error: err.Error()})
	default:
		return err
	}
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func isConflict(err error) bool {
	return errors.Is(err, registry.ErrExists) || errors.Is(err, registry.ErrDuplicateIdentity) ||
		errors.Is(err, release.ErrInvalidTransition) || errors.Is(err, store.ErrConflict)
}

func isInvalid(err error) bool {
	return errors.Is(err, release.ErrInvalid) || errors.Is(err, registry.ErrInvalidActor) ||
		errors.Is(err, registry.ErrInvalidPolicy) || errors.Is(err, store.ErrInvalidChange)
}

// SigningKeyRotation is the answer of POST /admin/v1/signing-key/rotate.
type SigningKeyRotation struct {
	// Kid is the key that signs from now on.
	Kid string `json:"kid"`
	// PreviousKid is the rotated-out key; it stays in /certs until
	// PublishedUntil, so tokens it signed keep verifying until they expire.
	PreviousKid    string    `json:"previous_kid"`
	PublishedUntil time.Time `json:"previous_published_until"`
	// NextKid is published in /certs now and signs after the next rotation.
	NextKid string `json:"next_kid"`
}

// handleRotateSigningKey puts the published next key in use, publishes a new
// next key, and keeps the old key's certificate in /certs for
// retiredKeyPublishedFor (its private key is gone). Relying parties look keys
// up by kid (every MAA client does), and have seen the new key in /certs
// since the previous rotation or start, so they need no change.
func (s *Server) handleRotateSigningKey(w http.ResponseWriter, r *http.Request) error {
	p, err := s.admin(r, "rotate-signing-key", config.RoleAdmin)
	if err != nil {
		return err
	}
	s.rotateMu.Lock()
	defer s.rotateMu.Unlock()
	cur := s.key.Load()
	now := s.now()
	next, err := rotateAudited(r.Context(), s.keys, s.reg, p.Name, cur, now)
	if next == nil && errors.Is(err, errKeySetChanged) {
		// The shared key set changed since this replica read it. If the keys
		// are the same (a restored Secret, a renewed certificate, a change
		// the watch has not delivered yet), rotate from the stored version;
		// if another replica rotated, say so and do not rotate twice.
		latest, lerr := s.reloadSigningKey(r.Context(), now)
		switch {
		case lerr != nil:
			err = errors.Join(err, lerr)
		case latest.KeyID() == cur.KeyID() && latest.NextKeyID() == cur.NextKeyID():
			cur = latest
			next, err = rotateAudited(r.Context(), s.keys, s.reg, p.Name, cur, now)
		default:
			return s.done("rotate-signing-key", apiErrorf(http.StatusConflict, CodeConflict,
				"signing key not rotated: another replica rotated it meanwhile (now %s, next %s); rotate again only if you mean a second rotation",
				latest.KeyID(), latest.NextKeyID()))
		}
	}
	if next == nil && errors.Is(err, errKeySetChanged) {
		return s.done("rotate-signing-key", apiErrorf(http.StatusConflict, CodeConflict,
			"signing key not rotated: another replica changed the signing keys at the same time (this replica signs with %s); retry", cur.KeyID()))
	}
	if next == nil {
		return s.done("rotate-signing-key", rotationError(fmt.Errorf("signing key not rotated (still %s): %w", cur.KeyID(), err)))
	}
	// The rotation is audited and the new key stored: sign with it from now
	// on, even if a later file failed (the next start repairs those; see
	// loadKeySet).
	s.setSigningKey(next)
	s.log.Warn("token-signing key rotated", "kid", next.KeyID(), "previous_kid", cur.KeyID(), "actor", p.Name)
	if err != nil {
		s.log.Error("token-signing key rotated with errors", "kid", next.KeyID(), "err", err.Error())
		return s.done("rotate-signing-key", rotationError(fmt.Errorf("signing key rotated to %s (now in use), but: %w", next.KeyID(), err)))
	}
	writeJSON(w, http.StatusOK, SigningKeyRotation{Kid: next.KeyID(), PreviousKid: cur.KeyID(),
		PublishedUntil: now.Add(retiredKeyPublishedFor).UTC(), NextKid: next.NextKeyID()})
	return s.done("rotate-signing-key", nil)
}

// reloadSigningKey reads the stored key set (without generating anything)
// and installs it if it is newer than the key in use; it returns it.
func (s *Server) reloadSigningKey(ctx context.Context, now time.Time) (*SigningKey, error) {
	have, version, err := s.keys.read(ctx)
	if err != nil {
		return nil, err
	}
	k, _, _, err := decodeKeySet(s.keys, have, s.cfg.Issuer, now, false)
	if err != nil {
		return nil, err
	}
	k.stored, k.version = have, version
	s.followSigningKey(k)
	return k, nil
}

// rotationError is a 500 whose message the admin sees: whether the key was
// rotated, and what failed, decide what they do next. Only admins reach it.
func rotationError(err error) error {
	return &APIError{Status: http.StatusInternalServerError, Code: CodeInternal, Message: trimPrefix(err.Error()), Err: err}
}
