// Package release defines the lifecycle of a trusted enclave measurement: a
// release is registered as a candidate, activated, drained after a successor is
// promoted, retired, or revoked at any time. It holds the domain types and the
// allowed transitions; persistence is package store's job.
//
// Transitions are pure functions: they take the current value and the time,
// and return the new value or a *TransitionError. The allowed transitions are
//
//	candidate -> active, retired, revoked
//	active    -> draining, retired, revoked
//	draining  -> active (rollback, only before DrainUntil), retired, revoked
//	retired   -> revoked
//	revoked   -> (none)
//
// Activating a release demotes every other active release of the same app to
// draining with DrainUntil = now + grace, so an app has at most one active
// release. A draining release may be re-activated while its grace period
// lasts: this is the rollback path after a bad promotion, and it needs no
// re-registration. Once DrainUntil has passed the release is drain-expired:
// it is no longer accepted (package policy decides acceptance) and may only
// be retired or revoked.
package release
