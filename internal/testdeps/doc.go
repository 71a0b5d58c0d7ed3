// Package testdeps decides what a test does when something it needs from
// outside the Go module is missing (the npm packages of the interop tests,
// node, the corpus of real quotes): a plain `go test ./...` skips with one
// line saying what is missing and how to get it; `make test` and CI set
// SGXOPS_REQUIRE_INTEROP=1, and there the test fails instead, so that these
// tests can never silently skip.
package testdeps
