package attestd

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/maaclient"
)

func jwksKids(t *testing.T, body []byte) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string   `json:"kid"`
			X5C []string `json:"x5c"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		if len(k.X5C) != 1 {
			t.Fatalf("key %s has %d x5c entries", k.Kid, len(k.X5C))
		}
		kids = append(kids, k.Kid)
	}
	return kids
}

// TestRotateSigningKeyFiles: /certs publishes the key in use, the next key
// and rotated-out certificates; a rotation puts the published next key in
// use; a restart loads the same state; a rotated-out certificate (never its
// key) is dropped after retiredKeyPublishedFor; crashes between the steps
// are repaired.
func TestRotateSigningKeyFiles(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	k1, err := LoadOrCreateSigningKey(dir, "https://a.example", now)
	if err != nil {
		t.Fatal(err)
	}
	n1 := k1.NextKeyID()
	if n1 == "" || n1 == k1.KeyID() || !slices.Equal(jwksKids(t, k1.JWKS()), []string{k1.KeyID(), n1}) {
		t.Fatalf("first start: kid %s next %s, /certs %v", k1.KeyID(), n1, jwksKids(t, k1.JWKS()))
	}
	k2, err := rotateSigningKey(dir, k1, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	n2 := k2.NextKeyID()
	if k2.KeyID() != n1 || n2 == "" || n2 == n1 || !slices.Equal(k2.RetiredKeyIDs(), []string{k1.KeyID()}) {
		t.Fatalf("rotated: kid %s (want the published next %s), next %s, retired %v", k2.KeyID(), n1, n2, k2.RetiredKeyIDs())
	}
	if kids := jwksKids(t, k2.JWKS()); !slices.Equal(kids, []string{n1, n2, k1.KeyID()}) {
		t.Fatalf("/certs kids %v", kids)
	}
	// A restart loads the same keys and still publishes the old certificate.
	k3, err := LoadOrCreateSigningKey(dir, "https://a.example", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if k3.Created() || k3.KeyID() != n1 || k3.NextKeyID() != n2 || !slices.Equal(jwksKids(t, k3.JWKS()), []string{n1, n2, k1.KeyID()}) {
		t.Fatalf("after restart: kid %s next %s, /certs %v", k3.KeyID(), k3.NextKeyID(), jwksKids(t, k3.JWKS()))
	}
	retired, err := os.ReadFile(filepath.Join(dir, RetiredSigningCertsFile))
	if err != nil || strings.Contains(string(retired), "PRIVATE KEY") || !strings.Contains(string(retired), "Retired-At:") {
		t.Fatalf("retired file: %v\n%s", err, retired)
	}
	// After the longest token lifetime the old certificate is gone.
	k4, err := LoadOrCreateSigningKey(dir, "https://a.example", now.Add(time.Minute+retiredKeyPublishedFor))
	if err != nil {
		t.Fatal(err)
	}
	if kids := jwksKids(t, k4.JWKS()); !slices.Equal(kids, []string{n1, n2}) {
		t.Fatalf("/certs after the retention: %v", kids)
	}
	// Crash after step 1: the key in use is also listed as retired; it is
	// published once.
	if err := os.WriteFile(filepath.Join(dir, RetiredSigningCertsFile), pem.EncodeToMemory(&pem.Block{
		Type: "CERTIFICATE", Headers: map[string]string{"Retired-At": now.Format(time.RFC3339)}, Bytes: k4.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	k5, err := LoadOrCreateSigningKey(dir, "https://a.example", now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if kids := jwksKids(t, k5.JWKS()); !slices.Equal(kids, []string{n1, n2}) {
		t.Fatalf("/certs with the key in use also retired: %v", kids)
	}
	// Crash after step 2: the next key files hold the key now in use; a new
	// next key is made.
	for _, f := range [][2]string{{SigningKeyFile, NextSigningKeyFile}, {SigningCertFile, NextSigningCertFile}} {
		b, err := os.ReadFile(filepath.Join(dir, f[0]))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f[1]), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	k6, err := LoadOrCreateSigningKey(dir, "https://a.example", now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if k6.KeyID() != n1 || k6.NextKeyID() == "" || k6.NextKeyID() == n1 || k6.NextKeyID() == n2 {
		t.Fatalf("after a crash before the new next key: kid %s next %s", k6.KeyID(), k6.NextKeyID())
	}
	// A damaged retired file is an error, not silently ignored.
	if err := os.WriteFile(filepath.Join(dir, RetiredSigningCertsFile), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateSigningKey(dir, "https://a.example", now); err == nil || !strings.Contains(err.Error(), "Retired-At") {
		t.Fatalf("damaged retired file: %v", err)
	}
}

// TestRotateSigningKeyAPI: an admin rotates the key over the API; tokens
// signed before and after verify with the same relying-party client (it
// refetches /certs for an unknown kid); the rotation is audited; readers and
// anonymous callers cannot rotate.
func TestRotateSigningKeyAPI(t *testing.T) {
	e := newTestEnv(t, envOpts{})
	id := identity("rotate")
	e.release("rotate", "v1", id, false)
	rt := []byte("runtime data")
	q := e.quote(id, rt)
	var clockMu sync.Mutex
	clock := time.Now()
	now := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock }
	mc, err := maaclient.New(e.url, maaclient.Options{HTTPClient: e.client, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	exp := maaclient.Expectations{App: "rotate", RuntimeData: rt, AllowSimulated: true}
	before := e.attest(q, rt, "").token(t)
	if _, err := mc.Verify(context.Background(), before, exp); err != nil {
		t.Fatal(err)
	}
	oldKid := e.srv.key.Load().KeyID()

	wantAuthError(t, e.do("POST", "/admin/v1/signing-key/rotate", "", nil), 401)
	wantAuthError(t, e.do("POST", "/admin/v1/signing-key/rotate", readerToken, nil), 403)
	rotate := func() SigningKeyRotation {
		t.Helper()
		r := mustStatus(t, e.do("POST", "/admin/v1/signing-key/rotate", adminToken, nil), 200)
		var rot SigningKeyRotation
		if err := json.Unmarshal(r.body, &rot); err != nil {
			t.Fatal(err)
		}
		if rot.Kid == rot.PreviousKid || rot.Kid != e.srv.key.Load().KeyID() || rot.PublishedUntil.IsZero() || rot.NextKid == "" {
			t.Fatalf("rotation %+v", rot)
		}
		return rot
	}
	signedBy := func(tok, kid string) {
		t.Helper()
		if h, _ := tokenParts(t, tok); !strings.Contains(h, `"kid":"`+kid+`"`) {
			t.Fatalf("token header %s, want kid %s", h, kid)
		}
	}

	// The test env's first key (NewSigningKey) has no published next key,
	// so its first rotation switches to a key clients have not seen yet.
	rot := rotate()
	if rot.PreviousKid != oldKid {
		t.Fatalf("previous kid %s, want %s", rot.PreviousKid, oldKid)
	}
	if kids := jwksKids(t, mustStatus(t, e.do("GET", "/certs", "", nil), 200).body); !slices.Equal(kids, []string{rot.Kid, rot.NextKid, oldKid}) {
		t.Fatalf("/certs kids %v", kids)
	}
	after := e.attest(q, rt, "").token(t)
	signedBy(after, rot.Kid)
	// A relying party that read /certs moments ago re-reads it for an unknown
	// kid only after a pause (maaclient: 10 s, so that forged kids cannot make
	// it hammer the service): until then it refuses the new key's tokens.
	if _, err := mc.Verify(context.Background(), after, exp); err == nil || !strings.Contains(err.Error(), "unknown_key") {
		t.Fatalf("new kid right after the rotation: %v", err)
	}
	clockMu.Lock()
	clock = clock.Add(11 * time.Second)
	clockMu.Unlock()
	for name, tok := range map[string]string{"before": before, "after": after} {
		if _, err := mc.Verify(context.Background(), tok, exp); err != nil {
			t.Errorf("token from %s the rotation: %v", name, err)
		}
	}
	// From now on the next key is published ahead of use: the second
	// rotation's tokens verify at once with the /certs the client read.
	rot2 := rotate()
	if rot2.Kid != rot.NextKid || rot2.PreviousKid != rot.Kid {
		t.Fatalf("second rotation %+v after %+v", rot2, rot)
	}
	third := e.attest(q, rt, "").token(t)
	signedBy(third, rot2.Kid)
	for name, tok := range map[string]string{"before the first": before, "between": after, "after the second": third} {
		if _, err := mc.Verify(context.Background(), tok, exp); err != nil {
			t.Errorf("token from %s rotation: %v", name, err)
		}
	}
	var page auditPage
	_ = json.Unmarshal(e.do("GET", "/admin/v1/audit", "", nil).body, &page)
	last := page.Entries[len(page.Entries)-1]
	if last.Action != audit.ActionSigningKeyRotate || last.Details["kid"] != rot2.Kid || last.Details["previous_kid"] != rot.Kid || last.Actor != "token:admin" {
		t.Fatalf("audit entry %+v", last)
	}
	// The keys on disk are the ones in use and next.
	k, err := LoadOrCreateSigningKey(e.cfg.DataDir, e.cfg.Issuer, time.Now())
	if err != nil || k.KeyID() != rot2.Kid || k.NextKeyID() != rot2.NextKid {
		t.Fatalf("keys on disk: %v, %v", k, err)
	}
}

// TestRotateSigningKeyFileFailures: when a file cannot be written, attestd
// signs with the key that is on disk, so that what it signs with and what a
// restart loads never differ, and says what failed. (Files are blocked by
// putting a non-empty directory where they go; permissions do not stop root.)
func TestRotateSigningKeyFileFailures(t *testing.T) {
	block := func(t *testing.T, path string) func() {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(path, "blocker"), 0o755); err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := os.RemoveAll(path); err != nil {
				t.Fatal(err)
			}
		}
	}
	diskKid := func(t *testing.T, dir string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, SigningKeyFile))
		if err != nil {
			t.Fatal(err)
		}
		k, err := parseRSAKeyPEM(b)
		if err != nil {
			t.Fatal(err)
		}
		kid, _ := keyIDFor(&k.PublicKey)
		return kid
	}

	t.Run("before the new key is written", func(t *testing.T) {
		e := newTestEnv(t, envOpts{})
		old := e.srv.key.Load().KeyID()
		unblock := block(t, filepath.Join(e.cfg.DataDir, RetiredSigningCertsFile))
		r := e.do("POST", "/admin/v1/signing-key/rotate", adminToken, nil)
		if r.status != 500 || e.srv.key.Load().KeyID() != old || !strings.Contains(string(r.body), "not rotated") {
			t.Fatalf("HTTP %d, kid %s (was %s): %s", r.status, e.srv.key.Load().KeyID(), old, r.body)
		}
		unblock()
		mustStatus(t, e.do("POST", "/admin/v1/signing-key/rotate", adminToken, nil), 200)
	})

	t.Run("after the new key is written", func(t *testing.T) {
		e := newTestEnv(t, envOpts{})
		old := e.srv.key.Load().KeyID()
		unblock := block(t, filepath.Join(e.cfg.DataDir, NextSigningCertFile))
		r := e.do("POST", "/admin/v1/signing-key/rotate", adminToken, nil)
		now := e.srv.key.Load().KeyID()
		if r.status != 500 || now == old || diskKid(t, e.cfg.DataDir) != now || !strings.Contains(string(r.body), "rotated to "+now) {
			t.Fatalf("HTTP %d, kid in use %s (was %s), on disk %s: %s", r.status, now, old, diskKid(t, e.cfg.DataDir), r.body)
		}
		// The rotation is recorded, and the new key's tokens verify.
		var page auditPage
		_ = json.Unmarshal(e.do("GET", "/admin/v1/audit", "", nil).body, &page)
		if last := page.Entries[len(page.Entries)-1]; last.Action != audit.ActionSigningKeyRotate || last.Details["kid"] != now {
			t.Fatalf("audit entry %+v", last)
		}
		if kids := jwksKids(t, e.do("GET", "/certs", "", nil).body); len(kids) == 0 || kids[0] != now {
			t.Fatalf("/certs %v", kids)
		}
		// Once the file can be written, a restart repairs the rest.
		unblock()
		k, err := LoadOrCreateSigningKey(e.cfg.DataDir, e.cfg.Issuer, time.Now())
		if err != nil || k.KeyID() != now || k.NextKeyID() == "" || k.NextKeyID() == now {
			t.Fatalf("restart: %v, %v", k, err)
		}
	})
}
