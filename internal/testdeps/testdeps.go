// Package testdeps decides what a test does when something it needs from
// outside the Go module is missing (the npm packages of the interop tests,
// node, the corpus of real quotes): a plain `go test ./...` skips with one
// line saying what is missing and how to get it; `make test` and CI set
// SGXOPS_REQUIRE_INTEROP=1, and there the test fails instead, so that these
// tests can never silently skip.
package testdeps

import (
	"os"
	"testing"
)

// RequireEnv is the variable that turns a skip into a failure.
const RequireEnv = "SGXOPS_REQUIRE_INTEROP"

// Required reports whether missing dependencies fail tests
// (SGXOPS_REQUIRE_INTEROP=1; CI=true counts too).
func Required() bool { return os.Getenv(RequireEnv) == "1" || os.Getenv("CI") == "true" }

// Missing stops t: what is missing, and how to get it.
func Missing(t testing.TB, what, how string) {
	t.Helper()
	msg := what + ": " + how
	if Required() {
		t.Fatal(RequireEnv + "=1: " + msg)
	}
	t.Skip(msg + " (skipped; " + RequireEnv + "=1 makes this a failure)")
}
