// Package store persists the trust set: releases, policies per attestation
// type, and the hash-chained audit log (package audit).
//
// Store is the interface attestd uses; OpenBolt returns the embedded
// implementation on a bbolt file, NewMemory an in-memory one for tests of
// other packages, and package store/kube one on Kubernetes custom resources
// so that attestd replicas in a cluster share one trust set. ApplyChange
// gives implementations outside this package the same commit logic; package
// storetest holds the conformance suite every implementation must pass.
//
// # Concurrency
//
// Writes are optimistic: every stored object carries a Revision taken from a
// store-wide counter that grows by one per commit, so a revision is never
// reused, even after a policy is reset and set again. A Change names the
// revision each write expects and, through AppGuard, the revision of a whole
// app's release set; Commit applies all of it atomically, together with its
// audit entries, or nothing, returning a *ConflictError (errors.Is
// ErrConflict) when another writer got there first. Callers reload and retry.
//
// # State and log
//
// Commit records in each audit entry the state of the object it writes
// (DetailReleaseState and friends), so the trust set is a function of the
// log: Replay rebuilds it, CompareState and VerifyState name the first
// stored object that differs from it.
//
// # Durability
//
// A Commit that returned nil is durable: the bbolt implementation syncs the
// file before returning (bbolt's default; NoSync is never set).
package store
