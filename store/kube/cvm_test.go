package kube_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store"
)

// cvmReleases are a TDX and an SEV-SNP release with every optional
// reference value set.
func cvmReleases(t *testing.T) []release.Release {
	t.Helper()
	h := func(c string, n int) string { return strings.Repeat(c, 2*n) }
	var out []release.Release
	for _, r := range []release.Release{
		{App: "cvm", Name: "tdx", MRTD: h("a", 48), RTMRs: [4]string{h("0", 48), "", h("b", 48), ""}, MRSEAM: h("c", 48)},
		{App: "cvm", Name: "snp", Measurement: h("d", 48), HostData: h("e", 32), FamilyID: h("0", 16), ImageID: h("f", 16)},
	} {
		c, err := release.NewCandidate(r, t0)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// TestCVMReleaseRoundTrip commits TDX and SEV-SNP releases to the
// Kubernetes store and to bbolt, and reads them back unchanged (also from a
// second Kubernetes store instance, which reads the objects afresh).
func TestCVMReleaseRoundTrip(t *testing.T) {
	ctx := context.Background()
	rels := cvmReleases(t)
	ch := store.Change{Guards: []store.AppGuard{{App: "cvm"}}}
	for _, r := range rels {
		ch.Releases = append(ch.Releases, store.ReleasePut{Release: r})
		ch.Audit = append(ch.Audit, audit.Record{Time: t0, Actor: "test", Action: audit.ActionRegister, App: r.App, Release: r.Name})
	}
	bolt, err := store.OpenBolt(filepath.Join(t.TempDir(), "attestd.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer bolt.Close()
	stores := map[string]func() store.Store{"bbolt": func() store.Store { return bolt }}
	ns := ""
	stores["kubernetes"] = func() store.Store { return open(t, ns) }
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			if name == "kubernetes" {
				ns = namespace(t)
			}
			s := mk()
			if _, err := s.Commit(ctx, ch); err != nil {
				t.Fatal(err)
			}
			readers := []store.Store{s}
			if name == "kubernetes" {
				readers = append(readers, open(t, ns))
			}
			for _, rd := range readers {
				for _, want := range rels {
					got, err := rd.GetRelease(ctx, want.App, want.Name)
					if err != nil {
						t.Fatal(err)
					}
					if got.Release.TEE() != want.TEE() || got.Release.IdentityKey() != want.IdentityKey() || got.Release.RTMRs != want.RTMRs ||
						got.Release.ImageID != want.ImageID || got.Release.FamilyID != want.FamilyID || got.Release.HostData != want.HostData {
						t.Fatalf("read back %+v, want %+v", got.Release, want)
					}
				}
			}
		})
	}
}
