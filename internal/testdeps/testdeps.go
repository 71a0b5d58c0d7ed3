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
