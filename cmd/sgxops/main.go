// Command sgxops measures enclaves, inspects and verifies SGX/TDX quotes, runs the
// simulated SGX platform and the one-machine demo. It only wires packages together;
// the logic lives in internal/cli and the library packages.
package main

import (
	"os"

	"github.com/sgxops/sgxops/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
