package kube

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode/utf8"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
)

// formatTime is RFC 3339 in UTC with nanoseconds; "" for the zero time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %v", field, err)
	}
	return t.UTC(), nil
}

func rev64(r uint64) int64 { return int64(min(r, math.MaxInt64)) }

func revU(r int64) (uint64, error) {
	if r < 0 {
		return 0, fmt.Errorf("negative revision %d", r)
	}
	return uint64(r), nil
}

func releaseSpec(rec store.ReleaseRecord) v1.AttestdReleaseSpec {
	r := rec.Release
	s := v1.AttestdReleaseSpec{
		App: r.App, Name: r.Name, MREnclave: r.MREnclave, MRSigner: r.MRSigner,
		ISVProdID: int32(r.ISVProdID), MinISVSVN: int32(r.MinISVSVN),
		State: string(r.State), CreatedAt: formatTime(r.CreatedAt), UpdatedAt: formatTime(r.UpdatedAt),
		DrainUntil: formatTime(r.DrainUntil), RevokedReason: r.RevokedReason, Revision: rev64(rec.Revision),
	}
	s.MRTD, s.MRSEAM = r.MRTD, r.MRSEAM
	if r.RTMRs != [4]string{} {
		s.RTMRs = r.RTMRs[:]
	}
	s.Measurement, s.HostData, s.FamilyID, s.ImageID = r.Measurement, r.HostData, r.FamilyID, r.ImageID
	if len(r.MREnclave) >= 16 {
		s.MREnclaveShort = r.MREnclave[:16]
	}
	return s
}

// releaseRecord decodes a spec; the release must pass release.Validate.
func releaseRecord(s v1.AttestdReleaseSpec) (store.ReleaseRecord, error) {
	var err error
	r := release.Release{App: s.App, Name: s.Name, MREnclave: s.MREnclave, MRSigner: s.MRSigner,
		State: release.State(s.State), RevokedReason: s.RevokedReason}
	r.MRTD, r.MRSEAM = s.MRTD, s.MRSEAM
	r.Measurement, r.HostData, r.FamilyID, r.ImageID = s.Measurement, s.HostData, s.FamilyID, s.ImageID
	if s.RTMRs != nil {
		if len(s.RTMRs) != 4 {
			return store.ReleaseRecord{}, fmt.Errorf("rtmrs has %d entries, want 4", len(s.RTMRs))
		}
		copy(r.RTMRs[:], s.RTMRs)
		if r.RTMRs == [4]string{} {
			return store.ReleaseRecord{}, fmt.Errorf("rtmrs present but all empty")
		}
	}
	if s.ISVProdID < 0 || s.ISVProdID > math.MaxUint16 || s.MinISVSVN < 0 || s.MinISVSVN > math.MaxUint16 {
		return store.ReleaseRecord{}, fmt.Errorf("isvProdID or minISVSVN outside 0..65535")
	}
	r.ISVProdID, r.MinISVSVN = uint16(s.ISVProdID), uint16(s.MinISVSVN)
	if r.CreatedAt, err = parseTime("createdAt", s.CreatedAt); err != nil {
		return store.ReleaseRecord{}, err
	}
	if r.UpdatedAt, err = parseTime("updatedAt", s.UpdatedAt); err != nil {
		return store.ReleaseRecord{}, err
	}
	if r.DrainUntil, err = parseTime("drainUntil", s.DrainUntil); err != nil {
		return store.ReleaseRecord{}, err
	}
	if err := r.Validate(); err != nil {
		return store.ReleaseRecord{}, err
	}
	if want := releaseSpec(store.ReleaseRecord{Release: r}).MREnclaveShort; s.MREnclaveShort != want {
		return store.ReleaseRecord{}, fmt.Errorf("mrenclaveShort %q is not the start of mrenclave", s.MREnclaveShort)
	}
	rev, err := revU(s.Revision)
	return store.ReleaseRecord{Release: r, Revision: rev}, err
}

func policySpec(p store.PolicyRecord) v1.AttestdPolicySpec {
	return v1.AttestdPolicySpec{Type: p.Type, Text: p.Text, JWS: p.JWS, UpdatedAt: formatTime(p.UpdatedAt), Revision: rev64(p.Revision)}
}

// policyRecord decodes a spec that is not a reset tombstone.
func policyRecord(s v1.AttestdPolicySpec) (store.PolicyRecord, error) {
	if err := store.ValidateAttestationType(s.Type); err != nil {
		return store.PolicyRecord{}, err
	}
	if s.Reset || s.Text == "" || s.JWS == "" {
		return store.PolicyRecord{}, fmt.Errorf("policy %s: text and jws are required", s.Type)
	}
	t, err := parseTime("updatedAt", s.UpdatedAt)
	if err != nil {
		return store.PolicyRecord{}, err
	}
	rev, err := revU(s.Revision)
	return store.PolicyRecord{Type: s.Type, Text: s.Text, JWS: s.JWS, UpdatedAt: t, Revision: rev}, err
}

func certsSpec(r store.PolicyCertsRecord) v1.AttestdPolicyCertificatesSpec {
	s := v1.AttestdPolicyCertificatesSpec{Revision: rev64(r.Revision)}
	for _, c := range r.Certs {
		s.Certificates = append(s.Certificates, v1.AttestdPolicyCertificate{
			Thumbprint: c.Thumbprint, DER: slices.Clone(c.DER), AddedAt: formatTime(c.AddedAt)})
	}
	return s
}

func certsRecord(s v1.AttestdPolicyCertificatesSpec) (store.PolicyCertsRecord, error) {
	rev, err := revU(s.Revision)
	if err != nil {
		return store.PolicyCertsRecord{}, err
	}
	r := store.PolicyCertsRecord{Revision: rev, Certs: []store.PolicyCert{}}
	for i, c := range s.Certificates {
		t, err := parseTime("addedAt", c.AddedAt)
		if err != nil {
			return store.PolicyCertsRecord{}, err
		}
		r.Certs = append(r.Certs, store.PolicyCert{Thumbprint: c.Thumbprint, DER: slices.Clone(c.DER), AddedAt: t})
		if c.Thumbprint != store.PolicyCertThumbprint(c.DER) || t.IsZero() || i > 0 && s.Certificates[i-1].Thumbprint >= c.Thumbprint {
			return store.PolicyCertsRecord{}, fmt.Errorf("certificate %d: thumbprint, order or addedAt invalid", i)
		}
	}
	return r, nil
}

func entrySpec(e audit.Entry) v1.AttestdAuditEntry {
	return v1.AttestdAuditEntry{
		Seq: rev64(e.Seq), Time: formatTime(e.Time), Actor: e.Actor, Action: string(e.Action),
		App: e.App, Release: e.Release, Details: cloneMap(e.Details),
		PrevHash: e.PrevHash.String(), Hash: e.Hash.String(),
	}
}

// auditJSON is the JSON form of package audit's Entry.
type auditJSON struct {
	Seq      int64             `json:"seq"`
	Time     string            `json:"time"`
	Actor    string            `json:"actor"`
	Action   string            `json:"action"`
	App      string            `json:"app,omitempty"`
	Release  string            `json:"release,omitempty"`
	Details  map[string]string `json:"details,omitempty"`
	PrevHash string            `json:"prev_hash"`
	Hash     string            `json:"hash"`
}

// entryFrom decodes a stored entry strictly through audit.Decode (hashes as
// 64 lowercase hex characters, RFC 3339 time, the entry's form); it does not
// verify the hash (audit.Verify does).
func entryFrom(s v1.AttestdAuditEntry) (audit.Entry, error) {
	// encoding/json would replace invalid UTF-8 silently.
	strs := []string{s.Time, s.Actor, s.Action, s.App, s.Release, s.PrevHash, s.Hash}
	for k, v := range s.Details {
		strs = append(strs, k, v)
	}
	for _, v := range strs {
		if !utf8.ValidString(v) {
			return audit.Entry{}, fmt.Errorf("kube: audit entry %d: invalid UTF-8: %w", s.Seq, audit.ErrMalformed)
		}
	}
	b, err := json.Marshal(auditJSON(s))
	if err != nil {
		return audit.Entry{}, err
	}
	return audit.Decode(b)
}

func headSpec(h audit.Head) v1.AttestdAuditHead {
	if h.Seq == 0 {
		return v1.AttestdAuditHead{}
	}
	return v1.AttestdAuditHead{Seq: rev64(h.Seq), Hash: h.Hash.String(), Time: formatTime(h.Time)}
}

func headFrom(s v1.AttestdAuditHead) (audit.Head, error) {
	if s.Seq == 0 && s.Hash == "" && s.Time == "" {
		return audit.Head{}, nil
	}
	var h audit.Head
	seq, err := revU(s.Seq)
	if err != nil {
		return h, err
	}
	h.Seq = seq
	if err := h.Hash.UnmarshalText([]byte(s.Hash)); err != nil {
		return h, err
	}
	h.Time, err = parseTime("head time", s.Time)
	return h, err
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
