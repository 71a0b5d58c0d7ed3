// Package registry is the reference-value registry behind attestd's admin
// API: it performs release lifecycle operations and policy changes as
// load -> transition (package release) -> one atomic store commit of the
// changed releases and their audit entries (packages store and audit).
//
// Writes are optimistic: when another writer (another attestd replica, or a
// concurrent request) changed what an operation read, the store reports a
// conflict and the registry reloads and retries, up to Options.MaxAttempts.
// Operations that depend on an app's whole release set (Register: unique
// name and identity; Activate: one active release) guard the app, so two
// concurrent activations of one app cannot both win.
//
// Readers see a draining release whose DrainUntil has passed as
// drain-expired (View.DrainExpired); acceptance is package policy's decision.
// Sweep retires such releases with audit entries.
package registry
