package cli_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/sgxops/sgxops/internal/cli"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/storetest"
)

// auditStateDataDir is auditDataDir plus a policy and a policy-management
// certificate.
func auditStateDataDir(t *testing.T) string {
	t.Helper()
	dir, _ := auditDataDir(t)
	s, err := store.OpenBolt(store.BoltPath(dir), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	reg := registry.New(s, registry.Options{})
	ctx := context.Background()
	if _, err := reg.SetPolicy(ctx, "admin", "SgxEnclave", "version=1.0; authorizationrules{=> deny();};", "e30.e30."); err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "policy signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.AddPolicyCert(ctx, "admin", der); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestAuditVerifyStateEdited edits the bbolt file directly, keeping
// revisions (the chain still verifies); audit verify must exit 3 and name
// the object.
func TestAuditVerifyStateEdited(t *testing.T) {
	tests := []struct {
		name, bucket, key string
		edit              func(map[string]any)
		object            string
	}{
		{"revoked release made active", storetest.BoltReleases, storetest.ReleaseKey("hello", "blue"),
			func(o map[string]any) { o["release"].(map[string]any)["state"] = "active" }, "release hello/blue"},
		{"policy replaced", storetest.BoltPolicies, "SgxEnclave",
			func(o map[string]any) { o["text"] = "version=1.0; authorizationrules{=> permit();};" }, "policy SgxEnclave"},
		{"policy certificate set replaced", storetest.BoltMeta, storetest.BoltPolicyCerts,
			func(o map[string]any) { o["certs"].([]any)[0].(map[string]any)["added_at"] = "2020-01-01T00:00:00Z" }, "policy-certificates"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := auditStateDataDir(t)
			if code, out, errOut := auditMain("verify", "--data-dir", dir); code != cli.ExitOK ||
				!strings.Contains(out, "stored state matches the audit log: 2 releases, 1 policies, policy certificates recorded") {
				t.Fatalf("before the edit: exit %d\n%s%s", code, out, errOut)
			}
			storetest.EditBolt(t, store.BoltPath(dir), tc.bucket, tc.key, tc.edit)
			code, out, errOut := auditMain("verify", "--data-dir", dir)
			if code != cli.ExitVerifyFailed || !strings.Contains(out, "audit log valid") ||
				!strings.Contains(out, "stored state DIFFERS from the audit log") || !strings.Contains(out, tc.object) ||
				!strings.Contains(errOut, tc.object) {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			code, out, _ = auditMain("verify", "--data-dir", dir, "-o", "json")
			var res struct {
				Valid bool
				State struct {
					Matches bool
					Object  string
				}
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil || code != cli.ExitVerifyFailed {
				t.Fatalf("exit %d, %v: %s", code, err, out)
			}
			if res.Valid || res.State.Matches || res.State.Object != tc.object {
				t.Fatalf("json result %s", out)
			}
		})
	}
}
