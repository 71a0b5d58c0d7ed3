// Command attestd is the sgxops attestation service: a self-hosted,
// MAA-compatible API that verifies SGX quotes and issues tokens. It only
// wires the attestd package to the process; see attestd.Main.
package main

import (
	"context"
	"os"

	"github.com/sgxops/sgxops/attestd"
)

func main() {
	os.Exit(attestd.Main(context.Background(), os.Args[1:], os.Stderr))
}
