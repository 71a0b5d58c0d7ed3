// Command attestd is the sgxops attestation service: a self-hosted,
// MAA-compatible API that verifies SGX quotes and issues tokens. It only
// wires the attestd package to the process; see attestd.Main.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/sgxops/sgxops/attestd"
	"github.com/sgxops/sgxops/internal/buildinfo"
)

func main() {
	// --version alone prints the build and exits (for images and support).
	if len(os.Args) == 2 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		fmt.Println(buildinfo.Read().String("attestd"))
		return
	}
	os.Exit(attestd.Main(context.Background(), os.Args[1:], os.Stderr))
}
