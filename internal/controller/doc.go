// Package controller reconciles EnclaveApps (api/v1alpha1): for each
// revision it builds and measures the enclave in a Job, records the
// measurement in a Secret, registers the release in attestd, deploys green
// beside blue, tests green by attestation in the cluster, and promotes it
// (attestd first, then the stable Service) or aborts it (revoked in attestd,
// traffic unchanged).
//
// Every step derives what to do from what it observes (Jobs, Secrets,
// Deployments, the stable Service's selector, the release in attestd), so a
// manager killed at any point resumes without duplicate Jobs or
// registrations, and the stable Service never selects an untested revision.
// Status reports what was observed; it is never the only record.
package controller
