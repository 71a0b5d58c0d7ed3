package release

import "time"

// State is where a release is in its lifecycle.
type State string

const (
	// Candidate: built and measured, accepted only for requests that name this
	// release explicitly (a rollout's test), never for general traffic.
	Candidate State = "candidate"
	// Active: accepted.
	Active State = "active"
	// Draining: still accepted until DrainUntil, after a successor was activated.
	Draining State = "draining"
	// Retired: rejected.
	Retired State = "retired"
	// Revoked: rejected; the reason is kept.
	Revoked State = "revoked"
)

// Release is one trusted enclave measurement of an application.
type Release struct {
	App  string `json:"app"`
	Name string `json:"name"` // unique within App, e.g. "v2" or a build id
	// SGX identity: MREnclave, or (when MREnclave is empty) MRSigner + ISVProdID + MinISVSVN.
	MREnclave string `json:"mrenclave,omitempty"` // lowercase hex, 32 bytes
	MRSigner  string `json:"mrsigner,omitempty"`  // lowercase hex, 32 bytes
	ISVProdID uint16 `json:"isv_prod_id"`
	MinISVSVN uint16 `json:"min_isv_svn"`

	// Confidential-VM identities (see cvm.go); exactly one TEE's identity is
	// set. TDX: MRTD, optionally RTMRs ("" = any) and MRSEAM.
	MRTD   string    `json:"mrtd,omitempty"`   // lowercase hex, 48 bytes
	RTMRs  [4]string `json:"rtmrs,omitzero"`   // lowercase hex, 48 bytes each, or "" (any)
	MRSEAM string    `json:"mrseam,omitempty"` // lowercase hex, 48 bytes
	// SEV-SNP: MEASUREMENT, optionally HOST_DATA, FAMILY_ID and IMAGE_ID.
	Measurement string `json:"measurement,omitempty"` // lowercase hex, 48 bytes
	HostData    string `json:"host_data,omitempty"`   // lowercase hex, 32 bytes
	FamilyID    string `json:"family_id,omitempty"`   // lowercase hex, 16 bytes
	ImageID     string `json:"image_id,omitempty"`    // lowercase hex, 16 bytes

	State         State     `json:"state"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	DrainUntil    time.Time `json:"drain_until,omitzero"`
	RevokedReason string    `json:"revoked_reason,omitempty"`
}
