package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EnclaveApp is one SGX application rolled out by the sgxops operator: every
// revision is built on an SGX node, measured, registered in attestd as a
// candidate, deployed beside the active revision, tested by attestation in
// the cluster, and promoted (or aborted). Clients need no change across
// revisions: they trust what attestd says is active.
//
// Conditions (status.conditions), in the order a rollout sets them. Each is
// about the revision named in spec.revision unless said otherwise.
//
//   - Built: the build Job finished. Reasons: Building, BuildSucceeded,
//     BuildFailed, BuildTimeout, NoBuild (the artifact comes from the runtime
//     image; the measuring Job is the build step).
//   - Measured: the measurement was read from the build and recorded in the
//     Secret <name>-<revision>-measurement. Reasons: Measured,
//     MeasurementInvalid, DebugEnclave (a DEBUG enclave is never registered).
//   - Registered: attestd holds the revision as a release with the same
//     MRENCLAVE. Reasons: Registered, MeasurementConflict (the revision name
//     is registered with another MRENCLAVE: an error, never an overwrite),
//     ReleaseRevoked, ReleaseRetired, AttestdError.
//   - Deployed: the revision's Deployment has all replicas available (their
//     readiness is the attestation probe) and its Service <name>-<revision>
//     exists. Reasons: Deploying, Deployed, StartTimeout. Job mode: the run
//     Job was created (JobCreated).
//   - Verified: the in-cluster test Job attested the candidate through its
//     Service, naming the candidate release. Reasons: Testing, TestPassed,
//     TestFailed, TestTimeout. Job mode: the run Job finished (JobCompleted,
//     JobFailed, JobTimeout).
//   - Promoted: the revision is active in attestd and the stable Service
//     <name> selects it. Reasons: Promoted, AwaitingPromotion (autoPromote
//     is false: run `sgxops rollout promote`), Aborted, Superseded.
//   - Ready: the active revision (status.activeRevision) serves: its
//     Deployment has available replicas behind the stable Service. Reasons:
//     Serving, NoActiveRevision, Unavailable, JobCompleted, JobFailed.
//
// A failure of any step aborts the candidate: it is revoked in attestd, its
// Deployment and Service are removed, traffic never moves, and the active
// revision keeps serving. Its phase is Failed and status, condition and an
// event say why. The failure is not retried: set a new spec.revision.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=eapp,categories=sgxops
// +kubebuilder:printcolumn:name="App",type=string,JSONPath=`.status.app`
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.activeRevision`
// +kubebuilder:printcolumn:name="Candidate",type=string,JSONPath=`.status.candidateRevision`
// +kubebuilder:printcolumn:name="MRENCLAVE",type=string,JSONPath=`.status.activeMREnclaveShort`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) + size(self.spec.revision) <= 48",message="metadata.name and spec.revision together must be at most 48 characters (child names are <name>-<revision>-measurement)",fieldPath=".spec.revision"
type EnclaveApp struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   EnclaveAppSpec   `json:"spec"`
	Status EnclaveAppStatus `json:"status,omitempty"`
}

// EnclaveAppList is a list of EnclaveApps.
//
// +kubebuilder:object:root=true
type EnclaveAppList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EnclaveApp `json:"items"`
}

func init() {
	SchemeBuilder.Register(&EnclaveApp{}, &EnclaveAppList{})
}

// EnclaveAppSpec is what the user asks for.
//
// +kubebuilder:validation:XValidation:rule="!has(self.simulation) || (has(self.attestd.allowSimulated) && self.attestd.allowSimulated)",message="spec.attestd.allowSimulated must be true when spec.simulation is set",fieldPath=".attestd.allowSimulated"
// +kubebuilder:validation:XValidation:rule="has(self.build) || has(self.runtime.artifactPath)",message="spec.runtime.artifactPath is required without spec.build (the artifact is measured from the runtime image)",fieldPath=".runtime.artifactPath"
// +kubebuilder:validation:XValidation:rule="!has(self.runtime.artifactMountPath) || has(self.build)",message="spec.runtime.artifactMountPath needs spec.build (it mounts the built artifact)",fieldPath=".runtime.artifactMountPath"
// +kubebuilder:validation:XValidation:rule="has(self.app) == has(oldSelf.app) && (!has(self.app) || self.app == oldSelf.app)",message="spec.app is immutable (set it at creation or never)",fieldPath=".app"
type EnclaveAppSpec struct {
	// App is the attestd application name. Default: the object's name.
	// Immutable.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	App string `json:"app,omitempty"`

	// Revision is the release name to run (e.g. v2). Changing it starts a
	// rollout. Build and runtime containers get it as SGXOPS_REVISION.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Revision string `json:"revision"`

	// Attestd says how to reach attestd's admin API.
	Attestd AttestdSpec `json:"attestd"`

	// SGX says which SGX platform the cluster's nodes have; it sets the
	// placement and EPC resource of build and runtime pods.
	// +optional
	SGX SGXSpec `json:"sgx,omitempty"`

	// Build builds the artifact on an SGX node. Without it the artifact is
	// measured from the runtime image (spec.runtime.artifactPath).
	// +optional
	Build *BuildSpec `json:"build,omitempty"`

	// Runtime is how the enclave service (or one-shot Job) runs.
	Runtime RuntimeSpec `json:"runtime"`

	// Rollout is how a new revision replaces the active one.
	// +optional
	Rollout RolloutSpec `json:"rollout,omitempty"`

	// Simulation runs the workload on the SIMULATED SGX platform kept in a
	// Secret (files of `sgxops sim init`). INSECURE: for testing the pipeline.
	// +optional
	Simulation *SimulationSpec `json:"simulation,omitempty"`

	// DeletionPolicy says what happens to the app's releases in attestd when
	// the EnclaveApp is deleted: Retire (default) or Keep.
	// +optional
	// +kubebuilder:default=Retire
	// +kubebuilder:validation:Enum=Retire;Keep
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// DeletionPolicy is spec.deletionPolicy.
type DeletionPolicy string

const (
	// DeletionRetire retires every release of the app in attestd.
	DeletionRetire DeletionPolicy = "Retire"
	// DeletionKeep leaves attestd unchanged.
	DeletionKeep DeletionPolicy = "Keep"
)

// AttestdSpec locates attestd.
type AttestdSpec struct {
	// URL of attestd (the operator's admin calls, and the probes' attestation).
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`

	// AdminTokenSecret holds the admin bearer token (the operator only).
	AdminTokenSecret SecretKeySelector `json:"adminTokenSecret"`

	// CABundle is a ConfigMap key holding the PEM CA certificates of attestd's
	// TLS certificate; mounted into probe pods. Default: system roots.
	// +optional
	CABundle *ConfigMapKeySelector `json:"caBundle,omitempty"`

	// AllowSimulated accepts SIMULATED evidence in the probes. Default false.
	// +optional
	AllowSimulated bool `json:"allowSimulated,omitempty"`
}

// SecretKeySelector names a key of a Secret in the EnclaveApp's namespace.
type SecretKeySelector struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +optional
	// +kubebuilder:default=token
	Key string `json:"key,omitempty"`
}

// ConfigMapKeySelector names a key of a ConfigMap in the EnclaveApp's namespace.
type ConfigMapKeySelector struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +optional
	// +kubebuilder:default=ca.crt
	Key string `json:"key,omitempty"`
}

// SGXPlatform is spec.sgx.platform.
// +kubebuilder:validation:Enum=None;AKS;IntelDevicePlugin
type SGXPlatform string

const (
	// PlatformNone adds no placement or EPC request (simulation, or you set them).
	PlatformNone SGXPlatform = "None"
	// PlatformAKS requests kubernetes.azure.com/sgx_epc_mem_in_MiB, which only
	// the confidential-computing node pools advertise.
	PlatformAKS SGXPlatform = "AKS"
	// PlatformIntel requests sgx.intel.com/epc and sgx.intel.com/enclave and
	// selects nodes labelled intel.feature.node.kubernetes.io/sgx=true (NFD).
	PlatformIntel SGXPlatform = "IntelDevicePlugin"
)

// TaintSGX is the key of the NoSchedule taint that dedicated SGX node pools
// carry (deploy/terraform/aks sets sgxops.io/sgx=true:NoSchedule). On the AKS
// and IntelDevicePlugin platforms, build and runtime pods tolerate it.
const TaintSGX = "sgxops.io/sgx"

// EPC resource names of the two device plugins.
const (
	EPCResourceAKS   corev1.ResourceName = "kubernetes.azure.com/sgx_epc_mem_in_MiB"
	EPCResourceIntel corev1.ResourceName = "sgx.intel.com/epc"
)

// SGXSpec sets the SGX placement of build and runtime pods.
type SGXSpec struct {
	// Platform: None (default), AKS or IntelDevicePlugin.
	// +optional
	// +kubebuilder:default=None
	Platform SGXPlatform `json:"platform,omitempty"`
	// EPC is the enclave page cache each SGX container requests, in the
	// platform's resource (AKS counts MiB: 10Mi requests 10). Default 10Mi.
	// +optional
	EPC *resource.Quantity `json:"epc,omitempty"`
}

// BuildSpec is the build step.
type BuildSpec struct {
	// Image is the builder (an SGX SDK, Gramine or Open Enclave base image).
	// +kubebuilder:validation:MinLength=1
	Image string `json:"image"`
	// Command and Args run the build; $(SGXOPS_REVISION) expands.
	// +optional
	Command []string `json:"command,omitempty"`
	// +optional
	Args []string `json:"args,omitempty"`
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
	// Source is put in /src before the build. Default: already in the image.
	// +optional
	Source *SourceSpec `json:"source,omitempty"`
	// Secrets are mounted read-only into the build container, e.g. the
	// enclave signing key for sgx_sign.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	Secrets []SecretMount `json:"secrets,omitempty"`
	// ArtifactPath is the file the build writes, under /artifacts (the
	// per-revision volume): a signed enclave, a Gramine .sig, an .sgxs stream.
	// +kubebuilder:validation:Pattern=`^/artifacts/[^\s]+$`
	ArtifactPath string `json:"artifactPath"`
	// Resources of the build container (the EPC request is added from spec.sgx).
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// NodeSelector and Tolerations add to the SGX placement of spec.sgx.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// Storage is the per-revision artifact volume, kept when the runtime
	// mounts the artifact (spec.runtime.artifactMountPath) or an existing
	// claim is named; otherwise the artifact lives in the build pod's
	// emptyDir, only to be measured.
	// +optional
	Storage StorageSpec `json:"storage,omitempty"`
}

// SecretMount mounts a Secret of the namespace read-only.
type SecretMount struct {
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// +kubebuilder:validation:Pattern=`^/[^\s]*$`
	MountPath string `json:"mountPath"`
}

// SourceSpec says where the build's source comes from; at most one is set.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.git) && has(self.configMap))",message="spec.build.source: set git or configMap, not both"
type SourceSpec struct {
	// Git clones URL at Ref into /src with Image (an image that has git).
	// +optional
	Git *GitSource `json:"git,omitempty"`
	// ConfigMap is mounted at /src.
	// +optional
	ConfigMap string `json:"configMap,omitempty"`
}

// GitSource is a git repository at a ref.
type GitSource struct {
	// +kubebuilder:validation:Pattern=`^(https://|ssh://|git@)[^\s]+$`
	URL string `json:"url"`
	// Ref is a branch or tag (recorded in status as the source ref).
	// +kubebuilder:validation:MinLength=1
	Ref string `json:"ref"`
	// Image runs `git clone`; it must contain git.
	// +kubebuilder:validation:MinLength=1
	Image string `json:"image"`
}

// StorageSpec is the artifact volume: an existing claim (a subdirectory per
// revision), or a claim per revision made by the operator.
type StorageSpec struct {
	// ExistingClaim is a PVC in the namespace; each revision uses the
	// subdirectory named after it.
	// +optional
	ExistingClaim string `json:"existingClaim,omitempty"`
	// +optional
	StorageClassName *string `json:"storageClassName,omitempty"`
	// AccessMode of a per-revision claim. ReadWriteOnce (default) is enough
	// unless the runtime mounts the artifact on several nodes.
	// +optional
	// +kubebuilder:default=ReadWriteOnce
	// +kubebuilder:validation:Enum=ReadWriteOnce;ReadWriteMany;ReadWriteOncePod
	AccessMode corev1.PersistentVolumeAccessMode `json:"accessMode,omitempty"`
	// Size of a per-revision claim. Default 1Gi.
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`
}

// RuntimeMode is spec.runtime.mode.
// +kubebuilder:validation:Enum=Service;Job
type RuntimeMode string

const (
	// ModeService runs a Deployment behind a stable Service (blue/green).
	ModeService RuntimeMode = "Service"
	// ModeJob runs each revision once as a Job (e.g. oe-helloworld): its
	// completion and log tail go to status; no Service, no test.
	ModeJob RuntimeMode = "Job"
)

// RuntimeSpec is how the enclave runs.
type RuntimeSpec struct {
	// Mode: Service (default) or Job.
	// +optional
	// +kubebuilder:default=Service
	Mode RuntimeMode `json:"mode,omitempty"`
	// +kubebuilder:validation:MinLength=1
	Image string `json:"image"`
	// Command and Args; $(SGXOPS_REVISION) expands.
	// +optional
	Command []string `json:"command,omitempty"`
	// +optional
	Args []string `json:"args,omitempty"`
	// Port the service listens on (plain HTTP; the attested channel
	// encrypts). Default 8080.
	// +optional
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
	// Replicas of each revision's Deployment. Default 1.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Replicas int32 `json:"replicas,omitempty"`
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`
	// Resources of the runtime container (the EPC request is added from spec.sgx).
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// ArtifactPath is the enclave inside the runtime image; measured when
	// there is no spec.build.
	// +optional
	// +kubebuilder:validation:Pattern=`^/[^\s]*$`
	ArtifactPath string `json:"artifactPath,omitempty"`
	// ArtifactMountPath mounts the built artifact's volume read-only there.
	// Default: not mounted.
	// +optional
	// +kubebuilder:validation:Pattern=`^/[^\s]*$`
	ArtifactMountPath string `json:"artifactMountPath,omitempty"`
	// AESM mounts the host's AESM socket directory (AKS confidential
	// computing add-on, out-of-proc quote provider) and sets SGX_AESM_ADDR=1.
	// +optional
	AESM *AESMSpec `json:"aesm,omitempty"`
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
}

// AESMSpec is the host directory of the AESM socket.
type AESMSpec struct {
	// HostPath of the directory holding aesm.socket. Default /var/run/aesmd.
	// +optional
	// +kubebuilder:default=/var/run/aesmd
	// +kubebuilder:validation:Pattern=`^/[^\s]*$`
	HostPath string `json:"hostPath,omitempty"`
}

// RolloutSpec is how a new revision replaces the active one.
type RolloutSpec struct {
	// Strategy: BlueGreen (the only one).
	// +optional
	// +kubebuilder:default=BlueGreen
	// +kubebuilder:validation:Enum=BlueGreen
	Strategy string `json:"strategy,omitempty"`
	// Test replaces the built-in attestation probe with a custom test. It
	// gets SGXOPS_ATTESTD_URL, SGXOPS_APP, SGXOPS_RELEASE, SGXOPS_SERVICE_URL,
	// SGXOPS_REVISION and SGXOPS_ALLOW_SIMULATED; exit 0 passes.
	// +optional
	Test *TestSpec `json:"test,omitempty"`
	// AutoPromote promotes a verified candidate at once (default true);
	// false waits for `sgxops rollout promote`.
	// +optional
	// +kubebuilder:default=true
	AutoPromote *bool `json:"autoPromote,omitempty"`
	// DrainGrace keeps the old revision accepted by attestd and running after
	// promotion, for established sessions. Default 5m.
	// +optional
	DrainGrace *metav1.Duration `json:"drainGrace,omitempty"`
	// Timeouts of the build, the start of the candidate, and its test.
	// +optional
	Timeouts Timeouts `json:"timeouts,omitempty"`
}

// TestSpec is a custom rollout test.
type TestSpec struct {
	// +kubebuilder:validation:MinLength=1
	Image string `json:"image"`
	// +optional
	Command []string `json:"command,omitempty"`
	// +optional
	Args []string `json:"args,omitempty"`
}

// Timeouts of the rollout steps.
type Timeouts struct {
	// Build (and measurement). Default 30m.
	// +optional
	Build *metav1.Duration `json:"build,omitempty"`
	// Start: until every candidate replica is ready. Default 10m.
	// +optional
	Start *metav1.Duration `json:"start,omitempty"`
	// Test. Default 5m.
	// +optional
	Test *metav1.Duration `json:"test,omitempty"`
}

// SimulationSpec mounts a SIMULATED SGX platform.
type SimulationSpec struct {
	// PlatformSecret holds the files of `sgxops sim init --dir`.
	// +kubebuilder:validation:MinLength=1
	PlatformSecret string `json:"platformSecret"`
	// MountPath in the runtime container. Default /sgxops-sim.
	// +optional
	// +kubebuilder:default=/sgxops-sim
	// +kubebuilder:validation:Pattern=`^/[^\s]*$`
	MountPath string `json:"mountPath,omitempty"`
}

// RevisionPhase is where one revision is.
// +kubebuilder:validation:Enum=Building;Measured;Candidate;Testing;Active;Draining;Retired;Failed
type RevisionPhase string

// Revision phases.
const (
	PhaseBuilding  RevisionPhase = "Building"
	PhaseMeasured  RevisionPhase = "Measured"
	PhaseCandidate RevisionPhase = "Candidate"
	PhaseTesting   RevisionPhase = "Testing"
	PhaseActive    RevisionPhase = "Active"
	PhaseDraining  RevisionPhase = "Draining"
	PhaseRetired   RevisionPhase = "Retired"
	PhaseFailed    RevisionPhase = "Failed"
)

// EnclaveAppStatus is what the operator observed.
type EnclaveAppStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// App is the attestd app name in use.
	// +optional
	App string `json:"app,omitempty"`
	// ActiveRevision is the revision the stable Service selects (Job mode:
	// the last revision whose Job completed).
	// +optional
	ActiveRevision string `json:"activeRevision,omitempty"`
	// ActiveMREnclaveShort is the first 12 hex digits of its MRENCLAVE.
	// +optional
	ActiveMREnclaveShort string `json:"activeMREnclaveShort,omitempty"`
	// CandidateRevision is the revision being rolled out, if any.
	// +optional
	CandidateRevision string `json:"candidateRevision,omitempty"`
	// Revisions are every revision seen, oldest first.
	// +optional
	// +listType=map
	// +listMapKey=name
	Revisions []RevisionStatus `json:"revisions,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RevisionStatus is one revision.
type RevisionStatus struct {
	Name  string        `json:"name"`
	Phase RevisionPhase `json:"phase"`
	// +optional
	MREnclave string `json:"mrenclave,omitempty"`
	// +optional
	MRSigner string `json:"mrsigner,omitempty"`
	// +optional
	ISVProdID int32 `json:"isvProdID,omitempty"`
	// +optional
	ISVSVN int32 `json:"isvSVN,omitempty"`
	// +optional
	ArtifactSHA256 string `json:"artifactSHA256,omitempty"`
	// BuilderImageDigest is the image ID the build (or measuring) container ran.
	// +optional
	BuilderImageDigest string `json:"builderImageDigest,omitempty"`
	// +optional
	SourceRef string `json:"sourceRef,omitempty"`
	// Names of the objects made for this revision.
	// +optional
	BuildJob string `json:"buildJob,omitempty"`
	// +optional
	Secret string `json:"secret,omitempty"`
	// +optional
	Deployment string `json:"deployment,omitempty"`
	// +optional
	Service string `json:"service,omitempty"`
	// +optional
	TestJob string `json:"testJob,omitempty"`
	// +optional
	RunJob string `json:"runJob,omitempty"`
	// Logs is the tail of the run Job's log (Job mode).
	// +optional
	Logs string `json:"logs,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
}

// Condition types of an EnclaveApp.
const (
	ConditionBuilt      = "Built"
	ConditionMeasured   = "Measured"
	ConditionRegistered = "Registered"
	ConditionDeployed   = "Deployed"
	ConditionVerified   = "Verified"
	ConditionPromoted   = "Promoted"
	ConditionReady      = "Ready"
)

// Annotations read by the operator (written by `sgxops rollout`). Their
// value names the revision, so a stale annotation never acts on a later one.
const (
	// AnnotationPromote promotes the named verified candidate (autoPromote false).
	AnnotationPromote = "sgxops.io/promote"
	// AnnotationAbort aborts the named candidate.
	AnnotationAbort = "sgxops.io/abort"
)

// Labels on everything the operator makes.
const (
	LabelApp       = "sgxops.io/app"
	LabelRevision  = "sgxops.io/revision"
	LabelComponent = "sgxops.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "sgxops-operator"
)

// Finalizer retires the app's releases in attestd before deletion.
const Finalizer = "sgxops.io/attestd-releases"
