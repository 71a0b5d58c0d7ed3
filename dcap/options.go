package dcap

import (
	"crypto/x509"
	"time"
)

// Options configures verification. The zero value is the safe production
// default: the embedded Intel SGX Root CA and the current time. Verify and
// NewVerifier copy the options; later changes by the caller have no effect.
type Options struct {
	// Roots are the trusted root CAs for the PCK chain, the TCB Signing chain and
	// the Root CA CRL. Nil means the embedded Intel SGX Root CA only
	// (IntelSGXRootCA). Set it only for Intel's own test roots or a private PKI.
	Roots *x509.CertPool

	// Now returns the verification time against which certificates, CRLs, TCB
	// Info and QE Identity validity is checked. Nil means time.Now.
	Now func() time.Time

	// InsecureSimulationRoots are additional root CAs of simulated platforms
	// (package sim). Quotes and collateral that chain to them verify, and their
	// Verdict has Simulated set: they prove nothing about real hardware. The
	// production roots are always tried first. Nil means none.
	InsecureSimulationRoots *x509.CertPool

	// MaxCacheEntries bounds each cache of a Verifier (PCK chains and
	// collateral sets); when a cache is full it is emptied. Zero means 1024.
	MaxCacheEntries int
}

const defaultMaxCacheEntries = 1024

func (o *Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// anchor is one set of trust anchors. Each verified chain records the anchor
// it ends at, so that a later anchor kind (e.g. an explicitly insecure
// simulation root) can mark its verdicts.
type anchor struct {
	pool *x509.CertPool
	// simulated marks anchors that are not Intel's (InsecureSimulationRoots);
	// verdicts that rely on them carry Verdict.Simulated.
	simulated bool
}

// anchors returns the trust anchors of o, production first.
func (o *Options) anchors() []anchor {
	// Pools are cloned: later changes to the caller's pools must not change
	// what a Verifier trusts.
	var pool *x509.CertPool
	if o.Roots != nil {
		pool = o.Roots.Clone()
	} else {
		pool = IntelSGXRootPool()
	}
	as := []anchor{{pool: pool}}
	if o.InsecureSimulationRoots != nil {
		as = append(as, anchor{pool: o.InsecureSimulationRoots.Clone(), simulated: true})
	}
	return as
}
