// Package pcstest runs a loopback HTTP server that answers on the Intel PCS v4
// REST paths with canned responses, in the shape Intel serves them (signed JSON
// bodies, URL-encoded PEM issuer chains in headers). Tests of collateral sources
// and of the commands that fetch collateral use it to exercise real HTTP with
// real collateral; it is not a collateral service.
package pcstest
