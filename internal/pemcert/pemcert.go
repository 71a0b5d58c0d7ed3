// Package pemcert decodes lists of PEM certificates strictly: the one parser
// behind quote PCK chains, collateral issuer chains, and certificate files.
package pemcert

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

var begin = []byte("-----BEGIN ")

// Parse decodes one or more concatenated PEM CERTIFICATE blocks. Whitespace
// between blocks and trailing NUL padding (quotes pad their chains) are
// allowed; any other byte, any other block type, or no certificate at all is
// an error naming the block.
func Parse(b []byte) ([]*x509.Certificate, error) {
	rest := bytes.TrimRight(b, "\x00")
	var certs []*x509.Certificate
	for {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		if len(rest) == 0 {
			break
		}
		if !bytes.HasPrefix(rest, begin) {
			return nil, fmt.Errorf("%d bytes after certificate %d are not PEM", len(rest), len(certs))
		}
		blk, r := pem.Decode(rest)
		if blk == nil {
			return nil, fmt.Errorf("PEM block %d is malformed", len(certs))
		}
		if blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d has type %q, not CERTIFICATE", len(certs), blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs), err)
		}
		certs = append(certs, c)
		rest = r
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("no PEM certificate")
	}
	return certs, nil
}
