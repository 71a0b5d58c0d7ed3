package store

import (
	"context"
	"time"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/release"
)

// Store is the persistence of the trust set. Implementations are safe for
// concurrent use. Reads return copies; callers may modify them.
//
// Mapping to the usual verbs: release Put, policy Set/Reset and audit Append
// are all Commit, so that a trust change and its audit entry are one atomic
// write.
type Store interface {
	// GetRelease returns one release; errors.Is(err, ErrNotFound) when absent.
	GetRelease(ctx context.Context, app, name string) (ReleaseRecord, error)
	// ListReleases returns the releases of app ordered by name, or of every
	// app ordered by app then name when app is "".
	ListReleases(ctx context.Context, app string) ([]ReleaseRecord, error)

	// GetPolicy returns the policy set for an attestation type;
	// errors.Is(err, ErrNotFound) when none is set (the default applies).
	GetPolicy(ctx context.Context, attestationType string) (PolicyRecord, error)
	// ListPolicies returns every policy that is set, ordered by type.
	ListPolicies(ctx context.Context) ([]PolicyRecord, error)

	// GetPolicyCerts returns the policy-management certificates added over
	// the API (the zero record, revision 0, when there are none).
	GetPolicyCerts(ctx context.Context) (PolicyCertsRecord, error)

	// ListAudit returns up to limit entries with seq > after, in seq order;
	// limit <= 0 means all. Entries are returned as stored, unverified; an
	// entry that cannot be decoded is an *EntryError.
	ListAudit(ctx context.Context, after uint64, limit int) ([]audit.Entry, error)
	// AuditHead returns the head recorded at the last commit (the zero Head
	// for an empty log).
	AuditHead(ctx context.Context) (audit.Head, error)

	// Commit applies ch atomically: all its checks pass and all its writes
	// and audit entries are stored, or nothing is. The store seals the audit
	// records onto its head (see audit.Seal).
	Commit(ctx context.Context, ch Change) (Committed, error)

	// Close releases the store. Further calls fail with ErrClosed.
	Close() error
}

// ReleaseRecord is a stored release and its revision.
type ReleaseRecord struct {
	Release  release.Release `json:"release"`
	Revision uint64          `json:"revision"`
}

// PolicyRecord is the policy stored for one attestation type.
type PolicyRecord struct {
	Type      string    `json:"type"`       // attestation type, e.g. "SgxEnclave"
	Text      string    `json:"text"`       // policy text
	JWS       string    `json:"jws"`        // the JWS as uploaded (StoredAttestationPolicy)
	UpdatedAt time.Time `json:"updated_at"` // when it was set
	Revision  uint64    `json:"revision"`
}

// PolicyCert is one policy-management certificate: policy uploads signed by
// its key are accepted (MAA's isolated mode).
type PolicyCert struct {
	// Thumbprint is the upper-case hex SHA-1 of DER, as MAA reports it.
	Thumbprint string    `json:"thumbprint"`
	DER        []byte    `json:"der"`
	AddedAt    time.Time `json:"added_at"`
}

// PolicyCertsRecord is the set of policy-management certificates added over
// the API, ordered by thumbprint, and its revision. The set is one record so
// that an invariant over it (never remove the last one) is one guarded write.
type PolicyCertsRecord struct {
	Certs    []PolicyCert `json:"certs"`
	Revision uint64       `json:"revision"`
}

// PolicyCertsPut replaces the set of policy-management certificates.
type PolicyCertsPut struct {
	Certs []PolicyCert
	// ExpectRevision is the revision the caller read (0: none stored yet).
	ExpectRevision uint64
}

// Change is one atomic write. A Change with no release, policy, certificate or
// audit write is rejected.
type Change struct {
	// Guards are checked first: each app's release set must be unchanged.
	Guards []AppGuard
	// Releases to create or replace; each (app, name) at most once.
	Releases []ReleasePut
	// Policies to set or reset; each type at most once.
	Policies []PolicyPut
	// PolicyCerts, when not nil, replaces the policy-management certificates.
	PolicyCerts *PolicyCertsPut
	// Audit records appended, in order, after the writes.
	Audit []audit.Record
}

// ReleasePut creates or replaces a release. The release must pass
// release.Validate.
type ReleasePut struct {
	Release release.Release
	// ExpectRevision is the revision the caller read: 0 means the release
	// must not exist yet.
	ExpectRevision uint64
}

// PolicyPut sets or resets the policy of one attestation type.
type PolicyPut struct {
	Type string
	// Text and JWS are stored when Reset is false; both are required then.
	Text, JWS string
	// UpdatedAt is stored as the policy's time; zero is rejected unless Reset.
	UpdatedAt time.Time
	// Reset removes the policy (the default applies again).
	Reset bool
	// ExpectRevision is the revision the caller read: 0 means no policy is set.
	ExpectRevision uint64
}

// AppGuard requires that the release set of App is unchanged since the
// caller read it: Revision is AppRevision of what the caller listed (0 for an
// app without releases). It protects invariants that span releases, such as
// one active release per app.
type AppGuard struct {
	App      string
	Revision uint64
}

// Committed is the result of a successful Commit.
type Committed struct {
	// Revision given to every object written by the commit.
	Revision uint64
	// Entries are the sealed audit entries, in order.
	Entries []audit.Entry
}

// AppRevisioner is implemented by stores that keep each app's revision (what
// AppRevision of its releases returns) as a record of its own, maintained in
// the same transaction as the releases: reading it, and checking an
// AppGuard, costs the same whatever the app's size. The bbolt and memory
// stores implement it.
type AppRevisioner interface {
	// AppRevision returns the app's revision: 0 for an app without releases.
	AppRevision(ctx context.Context, app string) (uint64, error)
}

// AppRevision returns the highest revision among recs (0 when empty): the
// value an AppGuard expects for the app that recs were listed from.
func AppRevision(recs []ReleaseRecord) uint64 {
	var r uint64
	for _, rec := range recs {
		r = max(r, rec.Revision)
	}
	return r
}
