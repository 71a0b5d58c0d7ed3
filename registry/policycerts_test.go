package registry_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/store"
)

func testCertDER(t *testing.T, cn string) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: t0, NotAfter: t0.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestPolicyCerts(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: t0}
	reg, _ := openBolt(t, clk)
	a, b := testCertDER(t, "signer a"), testCertDER(t, "signer b")

	if added := must(reg.AddPolicyCert(ctx, "admin", a))(t); !added {
		t.Fatal("first add: not added")
	}
	if added := must(reg.AddPolicyCert(ctx, "admin", a))(t); added {
		t.Fatal("second add of the same certificate: reported as added")
	}
	must(reg.AddPolicyCert(ctx, "admin", b))(t)
	got := must(reg.PolicyCerts(ctx))(t)
	if len(got.Certs) != 2 {
		t.Fatalf("PolicyCerts = %+v", got)
	}

	must(reg.RemovePolicyCert(ctx, "admin", a, false))(t)
	if removed := must(reg.RemovePolicyCert(ctx, "admin", a, false))(t); removed {
		t.Fatal("removing an absent certificate: reported as removed")
	}
	// b is the last one: it stays unless the caller has other signers.
	if _, err := reg.RemovePolicyCert(ctx, "admin", b, false); !errors.Is(err, registry.ErrLastPolicyCert) {
		t.Fatalf("removing the last certificate: %v", err)
	}
	if removed := must(reg.RemovePolicyCert(ctx, "admin", b, true))(t); !removed {
		t.Fatal("removing the last certificate with keepNone: not removed")
	}

	entries := must(reg.Audit(ctx))(t)
	want := []audit.Action{audit.ActionPolicyCertAdd, audit.ActionPolicyCertAdd, audit.ActionPolicyCertRemove, audit.ActionPolicyCertRemove}
	if len(entries) != len(want) {
		t.Fatalf("%d audit entries, want %d (no-op adds and removes write none)", len(entries), len(want))
	}
	for i, e := range entries {
		if e.Action != want[i] || e.Details["thumbprint"] == "" || e.Details["subject"] == "" {
			t.Errorf("entry %d: %+v", i, e)
		}
	}
	if entries[0].Details["thumbprint"] != store.PolicyCertThumbprint(a) || entries[0].Details["subject"] != "CN=signer a" {
		t.Errorf("first entry details %v", entries[0].Details)
	}
	if _, err := reg.AddPolicyCert(ctx, "admin", []byte("not a certificate")); !errors.Is(err, registry.ErrInvalidPolicy) {
		t.Errorf("adding garbage: %v", err)
	}
	if _, err := reg.AddPolicyCert(ctx, "", a); !errors.Is(err, registry.ErrInvalidActor) {
		t.Errorf("adding without an actor: %v", err)
	}
}
