// Package sgx holds the binary structures of Intel SGX and TDX attestation:
// SIGSTRUCT, REPORT BODY, ATTRIBUTES, MISCSELECT, and DCAP quotes (v3 SGX,
// v4 and v5 TDX). Every parser checks lengths first, copies its input, uses
// fixed-size arrays and has a marshaller that reproduces the input bytes.
//
// The package parses; quote verification is in package dcap. The one check here
// is Sigstruct.VerifySignature, the self-contained RSA-3072 check of a SIGSTRUCT.
package sgx
