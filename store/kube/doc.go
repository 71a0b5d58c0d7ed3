// Package kube is a store.Store on the Kubernetes API (etcd): attestd
// replicas in a cluster share one trust set through it, with nothing extra
// to run. Releases, policies and policy-management certificates are custom
// resources of group sgxops.io (AttestdRelease, AttestdPolicy,
// AttestdPolicyCertificates) that kubectl lists; the audit log lives in
// append-only AttestdAuditSegment objects.
//
// The API server has no multi-object transaction, so one object per
// namespace, the AttestdLedger, is the commit point: it holds the store-wide
// revision counter, the audit head, a digest of every object's content, and
// the full content of the last commit (its intent). A commit is one ledger
// update with a resourceVersion precondition; the objects are written after
// it and rolled forward by whoever finds them behind. Reads resolve every
// object against the ledger, so they never see a half-applied commit, and an
// object changed by hand (kubectl edit) fails reads with an *EditError
// (errors.Is store.ErrCorrupt). docs/architecture.md ("Kubernetes store")
// describes the protocol, its crash cases and its limits.
//
// The package never logs and never reads flags or the environment; metrics
// go through Options.Observe.
package kube
