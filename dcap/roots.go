package dcap

import (
	"crypto/x509"
	"encoding/pem"
	"sync"
)

// IntelSGXRootCAPEM is Intel's production SGX Root CA certificate ("Intel SGX
// Root CA", serial 22650CD65A9D3489F383B49552BF501B392706AC, valid 2018-05-21 to
// 2049-12-31; SHA-256 of the DER 44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3).
// It is the trust anchor of every production PCK certificate, TCB Signing
// certificate and CRL, and the default of Options.Roots.
const IntelSGXRootCAPEM = `
-----BEGIN CERTIFICATE-----
MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw
aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv
cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ
BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG
A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0
aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT
AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7
1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB
uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ
MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50
ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV
Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI
KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg
AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=
-----END CERTIFICATE-----
`

var (
	intelRootOnce sync.Once
	intelRoot     *x509.Certificate
)

// IntelSGXRootCA returns the parsed embedded Intel SGX Root CA certificate.
// Callers must not modify it.
func IntelSGXRootCA() *x509.Certificate {
	intelRootOnce.Do(func() {
		blk, _ := pem.Decode([]byte(IntelSGXRootCAPEM))
		if blk == nil {
			panic("dcap: embedded Intel SGX Root CA is not PEM")
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			panic("dcap: embedded Intel SGX Root CA: " + err.Error())
		}
		intelRoot = c
	})
	return intelRoot
}

// IntelSGXRootPool returns a new pool holding only the embedded Intel SGX Root CA.
func IntelSGXRootPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(IntelSGXRootCA())
	return p
}
