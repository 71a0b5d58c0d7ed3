// Package doctor is the preflight behind `sgxops doctor`: it answers "why does
// attestation not work on this node?" with a list of checks, each ok, warn or
// fail with a one-line reason and the fix.
//
// Every host check reads the file system through Options.Root (so that tests
// and the chart's DaemonSet can point it at a fake root or a hostPath mount),
// talks to the network only through Options.HTTPClient, and never logs.
// Cluster checks live in package doctor/kube.
package doctor
