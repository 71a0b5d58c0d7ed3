// Package demo runs the one-machine sgxops story behind "sgxops demo": a
// SIMULATED SGX platform with its PCS-compatible collateral server, attestd
// (bbolt in a temporary directory), and a blue/green rollout of the sample
// confidential service (examples/aggregate) while a client — configured with
// attestd's URL and the app name only, never a measurement — keeps computing.
//
// Everything listens on loopback, in process. Every line of output that
// involves simulated evidence says SIMULATED: the demo proves the pipeline,
// not confidentiality.
package demo
