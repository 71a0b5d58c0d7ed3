// Command attestd is the sgxops attestation service: a self-hosted,
// MAA-compatible API that verifies SGX quotes and issues tokens. It only
// wires the attestd package to the process; see attestd.Main.
//
// The container image has no CA bundle (it holds only this binary): the
// fallback roots below (Mozilla's, pinned by the module version) are used
// only when the system has none, so that HTTPS to Intel PCS, a PCCS or THIM
// verifies in the image too. A mounted /etc/ssl/certs bundle takes precedence.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/sgxops/sgxops/attestd"
	"github.com/sgxops/sgxops/internal/buildinfo"

	_ "golang.org/x/crypto/x509roots/fallback"
)

func main() {
	// --version alone prints the build and exits (for images and support).
	if len(os.Args) == 2 && (os.Args[1] == "--version" || os.Args[1] == "-version") {
		fmt.Println(buildinfo.Read().String("attestd"))
		return
	}
	os.Exit(attestd.Main(context.Background(), os.Args[1:], os.Stderr))
}
