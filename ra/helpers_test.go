package ra

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sgxops/sgxops/dcap"
	"github.com/sgxops/sgxops/policy"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/sgx"
	"github.com/sgxops/sgxops/sim"
)

// Tests run on a SIMULATED platform with a pinned clock: real DCAP quotes
// signed by the simulated QE, verified by dcap against the simulation root.

var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return testNow }

var (
	platformsMu sync.Mutex
	platforms   = map[string]*sim.Platform{}
)

// platform returns the deterministic simulated platform for seed.
func platform(t testing.TB, seed string) *sim.Platform {
	t.Helper()
	platformsMu.Lock()
	defer platformsMu.Unlock()
	if p, ok := platforms[seed]; ok {
		return p
	}
	p, err := sim.New([]byte(seed), sim.Config{}, sim.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	platforms[seed] = p
	return p
}

func measurement(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// identity returns an enclave identity; debug sets ATTRIBUTES.DEBUG.
func identity(name string, debug bool) sim.Identity {
	id := sim.Identity{
		MREnclave: measurement("mrenclave " + name),
		MRSigner:  measurement("mrsigner sgxops test"),
		ISVProdID: 1,
		ISVSVN:    1,
	}
	id.Attributes.Flags = sgx.AttrInit | sgx.AttrMode64Bit
	if debug {
		id.Attributes.Flags |= sgx.AttrDebug
	}
	return id
}

func provider(t testing.TB, seed, name string, debug bool) *SimulatedProvider {
	return &SimulatedProvider{Platform: platform(t, seed), Identity: identity(name, debug)}
}

func hexOf(b [32]byte) string { return hex.EncodeToString(b[:]) }

// rel returns a release of app "agg" for the named identity in state st.
func rel(name string, st release.State) release.Release {
	r := release.Release{App: "agg", Name: name, MREnclave: hexOf(measurement("mrenclave " + name)), State: st,
		CreatedAt: testNow.Add(-time.Hour), UpdatedAt: testNow.Add(-time.Hour)}
	switch st {
	case release.Draining:
		r.DrainUntil = testNow.Add(time.Hour)
	case release.Revoked:
		r.RevokedReason = "key compromise drill"
	}
	return r
}

func trustSet(rels ...release.Release) policy.TrustSet {
	return policy.TrustSet{Apps: []policy.App{{Name: "agg", Releases: rels, AllowSimulated: true}}}
}

// localVerifier verifies quotes of the platform made from seed against ts.
func localVerifier(t testing.TB, seed string, ts policy.TrustSet) *LocalVerifier {
	t.Helper()
	p := platform(t, seed)
	pool := x509.NewCertPool()
	pool.AddCert(p.RootCertificate())
	return &LocalVerifier{
		Collateral: p,
		DCAP:       dcap.Options{InsecureSimulationRoots: pool, Now: clock},
		Trust:      ts,
		App:        "agg",
		Now:        clock,
	}
}

// wantReason fails unless err is an *Error with reason r.
func wantReason(t testing.TB, err error, r Reason) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want *ra.Error with reason %s", err, err, r)
	}
	if e.Reason != r {
		t.Fatalf("reason %s (%v), want %s", e.Reason, err, r)
	}
	if !errors.Is(err, reasonInfo[r].sentinel) {
		t.Fatalf("errors.Is(%v, sentinel of %s) = false", err, r)
	}
	return e
}
