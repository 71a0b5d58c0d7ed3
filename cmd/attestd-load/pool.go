package main

import (
	"crypto/x509"

	"github.com/sgxops/sgxops/sim"
)

func x509Pool(p *sim.Platform) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.RootCertificate())
	return pool
}
