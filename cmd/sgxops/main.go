// Command sgxops measures enclaves, inspects and verifies SGX/TDX quotes, runs the
// simulated SGX platform and the one-machine demo. It only wires packages together;
// the logic lives in internal/cli and the library packages.
//
// Its image has no CA bundle: the fallback roots (Mozilla's, pinned by the
// module version) apply only when the system has none, so that HTTPS to
// Intel PCS or a public attestd verifies in the image too.
package main

import (
	"os"

	"github.com/sgxops/sgxops/internal/cli"

	_ "golang.org/x/crypto/x509roots/fallback"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
