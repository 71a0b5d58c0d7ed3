// Package storetest is the conformance suite for store.Store
// implementations: every implementation (bbolt, in-memory, a future
// Kubernetes one) calls Run from its tests with a constructor of fresh, empty
// stores. It checks reads, optimistic-concurrency conflicts, app guards,
// atomicity, validation, policies, audit paging and chaining, copies, and
// concurrent writers.
package storetest
