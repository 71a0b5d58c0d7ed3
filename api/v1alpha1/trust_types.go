package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The attestd trust-store kinds. attestd's Kubernetes store (package
// store/kube) writes them; people read them with kubectl. They are not meant
// to be edited by hand: every object's content is recorded (as a digest) in
// the namespace's AttestdLedger, and a read that finds an object changed
// outside attestd fails with an error naming it. Times are RFC 3339 strings
// with nanoseconds (metav1.Time would drop them, and the audit hash covers
// them); revisions come from the ledger's store-wide counter.

// AttestdReleaseSpec is one trusted enclave measurement of an application
// (package release's Release) and the store revision that wrote it.
type AttestdReleaseSpec struct {
	App  string `json:"app"`
	Name string `json:"name"`
	// MREnclave is lowercase hex (32 bytes); empty when the identity is
	// MRSigner + ISVProdID + MinISVSVN.
	MREnclave string `json:"mrenclave,omitempty"`
	// MREnclaveShort is the first 16 hex characters of MREnclave, for display.
	MREnclaveShort string `json:"mrenclaveShort,omitempty"`
	MRSigner       string `json:"mrsigner,omitempty"`
	ISVProdID      int32  `json:"isvProdID,omitempty"`
	MinISVSVN      int32  `json:"minISVSVN,omitempty"`
	// MRTD is a TDX release's identity (lowercase hex, 48 bytes); RTMRs
	// (4 entries, "" for any) and MRSEAM are optional reference values.
	MRTD   string   `json:"mrtd,omitempty"`
	RTMRs  []string `json:"rtmrs,omitempty"`
	MRSEAM string   `json:"mrseam,omitempty"`
	// Measurement is an SEV-SNP release's MEASUREMENT (lowercase hex, 48
	// bytes); HostData (32 bytes), FamilyID and ImageID (16 bytes) are
	// optional reference values.
	Measurement string `json:"measurement,omitempty"`
	HostData    string `json:"hostData,omitempty"`
	FamilyID    string `json:"familyID,omitempty"`
	ImageID     string `json:"imageID,omitempty"`
	// State is candidate, active, draining, retired or revoked.
	State         string `json:"state"`
	CreatedAt     string `json:"createdAt"`
	UpdatedAt     string `json:"updatedAt"`
	DrainUntil    string `json:"drainUntil,omitempty"`
	RevokedReason string `json:"revokedReason,omitempty"`
	// Revision is the store revision of the commit that wrote this release.
	Revision int64 `json:"revision"`
}

// AttestdRelease is a release in attestd's trust set (one per app and release name).
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=sgxops,shortName=arel
// +kubebuilder:printcolumn:name="App",type=string,JSONPath=`.spec.app`
// +kubebuilder:printcolumn:name="Release",type=string,JSONPath=`.spec.name`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.spec.state`
// +kubebuilder:printcolumn:name="MRENCLAVE",type=string,JSONPath=`.spec.mrenclaveShort`
// +kubebuilder:printcolumn:name="Revision",type=integer,JSONPath=`.spec.revision`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AttestdRelease struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AttestdReleaseSpec `json:"spec"`
}

// AttestdReleaseList is a list of AttestdRelease.
//
// +kubebuilder:object:root=true
type AttestdReleaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AttestdRelease `json:"items"`
}

// AttestdPolicySpec is the MAA policy set for one attestation type. A reset
// policy stays as a tombstone (Reset true, no text) so that its revision is
// never reused and a late writer cannot resurrect it.
type AttestdPolicySpec struct {
	// Type is the attestation type, e.g. SgxEnclave.
	Type string `json:"type"`
	// Text is the policy text and JWS the upload as received; both empty when Reset.
	Text      string `json:"text,omitempty"`
	JWS       string `json:"jws,omitempty"`
	UpdatedAt string `json:"updatedAt,omitempty"`
	// Reset: the policy was reset, the default applies.
	Reset    bool  `json:"reset,omitempty"`
	Revision int64 `json:"revision"`
}

// AttestdPolicy is the policy of one attestation type in attestd's trust set.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=sgxops,shortName=apol
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Reset",type=boolean,JSONPath=`.spec.reset`
// +kubebuilder:printcolumn:name="Updated",type=string,JSONPath=`.spec.updatedAt`
// +kubebuilder:printcolumn:name="Revision",type=integer,JSONPath=`.spec.revision`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AttestdPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AttestdPolicySpec `json:"spec"`
}

// AttestdPolicyList is a list of AttestdPolicy.
//
// +kubebuilder:object:root=true
type AttestdPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AttestdPolicy `json:"items"`
}

// AttestdPolicyCertificate is one policy-management certificate.
type AttestdPolicyCertificate struct {
	// Thumbprint is the upper-case hex SHA-1 of DER.
	Thumbprint string `json:"thumbprint"`
	// DER is the certificate (base64 in JSON).
	DER     []byte `json:"der"`
	AddedAt string `json:"addedAt"`
}

// AttestdPolicyCertificatesSpec is the whole set of policy-management
// certificates, ordered by thumbprint.
type AttestdPolicyCertificatesSpec struct {
	Certificates []AttestdPolicyCertificate `json:"certificates,omitempty"`
	Revision     int64                      `json:"revision"`
}

// AttestdPolicyCertificates is the set of policy-management certificates
// added over attestd's API (one object per namespace, named policy-certificates).
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=sgxops,shortName=apcert
// +kubebuilder:printcolumn:name="Revision",type=integer,JSONPath=`.spec.revision`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AttestdPolicyCertificates struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AttestdPolicyCertificatesSpec `json:"spec"`
}

// AttestdPolicyCertificatesList is a list of AttestdPolicyCertificates.
//
// +kubebuilder:object:root=true
type AttestdPolicyCertificatesList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AttestdPolicyCertificates `json:"items"`
}

// AttestdAuditEntry is one sealed audit entry in the JSON form of package
// audit (hashes lowercase hex, time RFC 3339 with nanoseconds).
type AttestdAuditEntry struct {
	Seq      int64             `json:"seq"`
	Time     string            `json:"time"`
	Actor    string            `json:"actor"`
	Action   string            `json:"action"`
	App      string            `json:"app,omitempty"`
	Release  string            `json:"release,omitempty"`
	Details  map[string]string `json:"details,omitempty"`
	PrevHash string            `json:"prevHash"`
	Hash     string            `json:"hash"`
}

// AttestdAuditSegmentSpec is a run of consecutive audit entries starting at First.
type AttestdAuditSegmentSpec struct {
	First   int64               `json:"first"`
	Last    int64               `json:"last"`
	Entries []AttestdAuditEntry `json:"entries,omitempty"`
}

// AttestdAuditSegment holds up to a few hundred consecutive audit entries;
// entries are only ever appended.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=sgxops,shortName=aaudit
// +kubebuilder:printcolumn:name="First",type=integer,JSONPath=`.spec.first`
// +kubebuilder:printcolumn:name="Last",type=integer,JSONPath=`.spec.last`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AttestdAuditSegment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AttestdAuditSegmentSpec `json:"spec"`
}

// AttestdAuditSegmentList is a list of AttestdAuditSegment.
//
// +kubebuilder:object:root=true
type AttestdAuditSegmentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AttestdAuditSegment `json:"items"`
}

// AttestdAuditHead is the end of the audit chain.
type AttestdAuditHead struct {
	Seq  int64  `json:"seq,omitempty"`
	Hash string `json:"hash,omitempty"`
	Time string `json:"time,omitempty"`
}

// AttestdIntent is what the last commit wrote: the full content of every
// object it changed and its audit entries. attestd materializes it after the
// ledger update (the commit point); any reader or writer that finds it not
// yet materialized finishes the job.
type AttestdIntent struct {
	// ID identifies the commit attempt (random), so a writer whose ledger
	// update timed out can tell whether it landed.
	ID       string `json:"id"`
	Revision int64  `json:"revision"`
	// Releases, Policies and PolicyCertificates are the objects written.
	Releases           []AttestdReleaseSpec           `json:"releases,omitempty"`
	Policies           []AttestdPolicySpec            `json:"policies,omitempty"`
	PolicyCertificates *AttestdPolicyCertificatesSpec `json:"policyCertificates,omitempty"`
	// Previous maps the "kind/name" of every object written to the digest it
	// replaced ("" when the object is new), so that an object still behind
	// the intent is told apart from one changed by hand.
	// +mapType=atomic
	Previous map[string]string `json:"previous,omitempty"`
	// Entries are appended to the segment starting at Segment.
	Entries []AttestdAuditEntry `json:"entries,omitempty"`
	Segment int64               `json:"segment,omitempty"`
}

// AttestdLedgerSpec is the commit point of attestd's Kubernetes store.
type AttestdLedgerSpec struct {
	// Schema is the layout version; a newer one is refused.
	Schema int32 `json:"schema"`
	// Revision is the store-wide counter: one per commit.
	Revision int64 `json:"revision"`
	// Head is the audit chain's head.
	Head AttestdAuditHead `json:"head,omitempty"`
	// Segments lists the first seq of every audit segment, ascending.
	Segments []int64 `json:"segments,omitempty"`
	// SegmentEntries and SegmentBytes measure the last segment.
	SegmentEntries int64 `json:"segmentEntries,omitempty"`
	SegmentBytes   int64 `json:"segmentBytes,omitempty"`
	// Objects maps "kind/name" of every materialized object to the SHA-256
	// (base64) of its spec's JSON: the content attestd wrote. Atomic, so that
	// managedFields do not list every key again.
	// +mapType=atomic
	Objects map[string]string `json:"objects,omitempty"`
	// Intent is the last commit (see AttestdIntent).
	Intent *AttestdIntent `json:"intent,omitempty"`
}

// AttestdLedger is the single guarded object of attestd's Kubernetes store
// (one per namespace, named ledger): updated with a resourceVersion
// precondition, it is where a commit becomes durable.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=sgxops
// +kubebuilder:printcolumn:name="Revision",type=integer,JSONPath=`.spec.revision`
// +kubebuilder:printcolumn:name="Audit",type=integer,JSONPath=`.spec.head.seq`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AttestdLedger struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec AttestdLedgerSpec `json:"spec"`
}

// AttestdLedgerList is a list of AttestdLedger.
//
// +kubebuilder:object:root=true
type AttestdLedgerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AttestdLedger `json:"items"`
}

func init() {
	SchemeBuilder.Register(
		&AttestdRelease{}, &AttestdReleaseList{},
		&AttestdPolicy{}, &AttestdPolicyList{},
		&AttestdPolicyCertificates{}, &AttestdPolicyCertificatesList{},
		&AttestdAuditSegment{}, &AttestdAuditSegmentList{},
		&AttestdLedger{}, &AttestdLedgerList{},
	)
}
