package kube

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
)

var t0 = time.Date(2026, 12, 3, 8, 0, 0, 123456789, time.UTC)

func sealed(t testing.TB) audit.Entry {
	e, err := audit.Seal(audit.Head{}, audit.Record{Time: t0, Actor: "op", Action: audit.ActionRevoke,
		App: "hello", Release: "v1", Details: map[string]string{"reason": "leak", "é": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEntryRoundTrip(t *testing.T) {
	e := sealed(t)
	got, err := entryFrom(entrySpec(e))
	if err != nil {
		t.Fatal(err)
	}
	if got.ComputeHash() != e.Hash || got.Hash != e.Hash || !got.Time.Equal(t0) || got.Details["é"] != "x" {
		t.Fatalf("round trip changed the entry: %+v", got)
	}
}

// TestEntryFromRejects: a stored entry that is not in audit's strict form
// is an error matching audit.ErrMalformed (never a panic or a silent fix).
func TestEntryFromRejects(t *testing.T) {
	good := entrySpec(sealed(t))
	tests := map[string]func(*v1.AttestdAuditEntry){
		"seq zero":        func(e *v1.AttestdAuditEntry) { e.Seq = 0 },
		"seq negative":    func(e *v1.AttestdAuditEntry) { e.Seq = -1 },
		"time empty":      func(e *v1.AttestdAuditEntry) { e.Time = "" },
		"time not 3339":   func(e *v1.AttestdAuditEntry) { e.Time = "03 Dec 26 08:00 UTC" },
		"no actor":        func(e *v1.AttestdAuditEntry) { e.Actor = "" },
		"action upper":    func(e *v1.AttestdAuditEntry) { e.Action = "Revoke" },
		"hash upper":      func(e *v1.AttestdAuditEntry) { e.Hash = strings.ToUpper(e.Hash) },
		"hash short":      func(e *v1.AttestdAuditEntry) { e.Hash = e.Hash[2:] },
		"prev hash empty": func(e *v1.AttestdAuditEntry) { e.PrevHash = "" },
		"detail key empty": func(e *v1.AttestdAuditEntry) {
			e.Details = map[string]string{"": "v"}
		},
		"actor not utf-8": func(e *v1.AttestdAuditEntry) { e.Actor = "\xff" },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			e := good
			e.Details = cloneMap(good.Details)
			mutate(&e)
			if _, err := entryFrom(e); !errors.Is(err, audit.ErrMalformed) {
				t.Fatalf("err = %v, want audit.ErrMalformed", err)
			}
		})
	}
}

func TestReleaseRecordRejects(t *testing.T) {
	r, err := release.NewCandidate(release.Release{App: "hello", Name: "v1", MREnclave: strings.Repeat("ab", 32)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	good := releaseSpec(store.ReleaseRecord{Release: r, Revision: 7})
	if good.MREnclaveShort != strings.Repeat("ab", 8) {
		t.Fatalf("short %q", good.MREnclaveShort)
	}
	back, err := releaseRecord(good)
	if err != nil || back.Release != r || back.Revision != 7 {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	tests := map[string]func(*v1.AttestdReleaseSpec){
		"unknown state":     func(s *v1.AttestdReleaseSpec) { s.State = "trusted" },
		"upper mrenclave":   func(s *v1.AttestdReleaseSpec) { s.MREnclave = strings.ToUpper(s.MREnclave) },
		"short mismatch":    func(s *v1.AttestdReleaseSpec) { s.MREnclaveShort = "0000000000000000" },
		"bad time":          func(s *v1.AttestdReleaseSpec) { s.CreatedAt = "yesterday" },
		"no created":        func(s *v1.AttestdReleaseSpec) { s.CreatedAt = "" },
		"drain w/o state":   func(s *v1.AttestdReleaseSpec) { s.DrainUntil = s.CreatedAt },
		"isvprodid range":   func(s *v1.AttestdReleaseSpec) { s.ISVProdID = 70000 },
		"negative revision": func(s *v1.AttestdReleaseSpec) { s.Revision = -1 },
		"bad app":           func(s *v1.AttestdReleaseSpec) { s.App = "Hello" },
	}
	for name, mutate := range tests {
		s := good
		mutate(&s)
		if _, err := releaseRecord(s); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPolicyAndCertsRoundTrip(t *testing.T) {
	p := store.PolicyRecord{Type: "SgxEnclave", Text: "version=1.0;", JWS: "a.b.c", UpdatedAt: t0, Revision: 3}
	if got, err := policyRecord(policySpec(p)); err != nil || got != p {
		t.Fatalf("policy: %+v, %v", got, err)
	}
	if _, err := policyRecord(v1.AttestdPolicySpec{Type: "SgxEnclave", Reset: true, Revision: 4}); err == nil {
		t.Fatal("a reset tombstone decoded as a policy")
	}
	c := store.PolicyCertsRecord{Revision: 5, Certs: []store.PolicyCert{{Thumbprint: store.PolicyCertThumbprint([]byte("x")), DER: []byte("x"), AddedAt: t0}}}
	got, err := certsRecord(certsSpec(c))
	if err != nil || got.Revision != 5 || len(got.Certs) != 1 || string(got.Certs[0].DER) != "x" || !got.Certs[0].AddedAt.Equal(t0) {
		t.Fatalf("certs: %+v, %v", got, err)
	}
	bad := certsSpec(c)
	bad.Certificates[0].Thumbprint = "00"
	if _, err := certsRecord(bad); err == nil {
		t.Fatal("wrong thumbprint accepted")
	}
}

// TestDigestSurvivesJSON: the digest of a spec read back from its JSON (what
// the API server returns) equals the digest of the spec written.
func TestDigestSurvivesJSON(t *testing.T) {
	specs := []any{
		&v1.AttestdReleaseSpec{App: "a", Name: "b", State: "candidate", CreatedAt: formatTime(t0), UpdatedAt: formatTime(t0), Revision: 1},
		&v1.AttestdPolicySpec{Type: "SgxEnclave", Reset: true, Revision: 2},
		&v1.AttestdPolicyCertificatesSpec{Certificates: []v1.AttestdPolicyCertificate{{Thumbprint: "T", DER: []byte{0, 1, 2}, AddedAt: "x"}}},
	}
	for _, s := range specs {
		b, _ := json.Marshal(s)
		var m map[string]any // through a generic map, as the API server stores it
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		b2, _ := json.Marshal(m)
		back := map[string]any{}
		_ = json.Unmarshal(b2, &back)
		switch s.(type) {
		case *v1.AttestdReleaseSpec:
			var r v1.AttestdReleaseSpec
			_ = json.Unmarshal(b2, &r)
			if digest(&r) != digest(s) {
				t.Fatalf("release digest changed through JSON")
			}
		case *v1.AttestdPolicySpec:
			var p v1.AttestdPolicySpec
			_ = json.Unmarshal(b2, &p)
			if digest(&p) != digest(s) {
				t.Fatalf("policy digest changed through JSON")
			}
		case *v1.AttestdPolicyCertificatesSpec:
			var c v1.AttestdPolicyCertificatesSpec
			_ = json.Unmarshal(b2, &c)
			if digest(&c) != digest(s) {
				t.Fatalf("certificates digest changed through JSON")
			}
		}
	}
}

func TestNames(t *testing.T) {
	if releaseName("a-b", "c") == releaseName("a", "b-c") {
		t.Fatal("release names collide")
	}
	if policyName("SgxEnclave") == policyName("sgxenclave") {
		t.Fatal("policy names differ only in case and collide")
	}
	if n := policyName("SgxEnclave"); !strings.HasPrefix(n, "sgxenclave-") || len(n) != len("sgxenclave-")+8 {
		t.Fatalf("policy name %q", n)
	}
	if segmentName(1) != "audit-0000000000000001" {
		t.Fatal(segmentName(1))
	}
}

// FuzzEntryFrom decodes arbitrary stored entries: an error must be
// audit.ErrMalformed, and an accepted entry must survive entrySpec.
func FuzzEntryFrom(f *testing.F) {
	b, _ := json.Marshal(entrySpec(sealed(f)))
	f.Add(b)
	f.Add([]byte(`{"seq":1,"time":"2026-12-03T08:00:00Z","actor":"a","action":"x","prevHash":"","hash":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s v1.AttestdAuditEntry
		if json.Unmarshal(b, &s) != nil {
			return
		}
		e, err := entryFrom(s)
		if err != nil {
			if !errors.Is(err, audit.ErrMalformed) {
				t.Fatalf("error not ErrMalformed: %v", err)
			}
			return
		}
		again, err := entryFrom(entrySpec(e))
		if err != nil || string(again.Canonical()) != string(e.Canonical()) || again.Hash != e.Hash {
			t.Fatalf("round trip: %v", err)
		}
	})
}
