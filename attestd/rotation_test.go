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

// TestRotateSigningKeyFiles: the rotated key is what the next start loads;
// the old certificate (not its key) is published for RetiredKeyPublishedFor
// and then dropped; a crash between the first two steps publishes the key
// once.
func TestRotateSigningKeyFiles(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	k1, err := LoadOrCreateSigningKey(dir, "https://a.example", now)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := RotateSigningKey(dir, k1, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if k2.KeyID() == k1.KeyID() || !slices.Equal(k2.RetiredKeyIDs(), []string{k1.KeyID()}) {
		t.Fatalf("rotated: kid %s retired %v (old %s)", k2.KeyID(), k2.RetiredKeyIDs(), k1.KeyID())
	}
	if kids := jwksKids(t, k2.JWKS()); !slices.Equal(kids, []string{k2.KeyID(), k1.KeyID()}) {
		t.Fatalf("/certs kids %v", kids)
	}
	// A restart loads the new key and still publishes the old certificate.
	k3, err := LoadOrCreateSigningKey(dir, "https://a.example", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if k3.Created() || k3.KeyID() != k2.KeyID() || !slices.Equal(jwksKids(t, k3.JWKS()), []string{k2.KeyID(), k1.KeyID()}) {
		t.Fatalf("after restart: kid %s, /certs %v", k3.KeyID(), jwksKids(t, k3.JWKS()))
	}
	retired, err := os.ReadFile(filepath.Join(dir, RetiredSigningCertsFile))
	if err != nil || strings.Contains(string(retired), "PRIVATE KEY") || !strings.Contains(string(retired), "Retired-At:") {
		t.Fatalf("retired file: %v\n%s", err, retired)
	}
	// After the longest token lifetime the old certificate is gone.
	k4, err := LoadOrCreateSigningKey(dir, "https://a.example", now.Add(time.Minute+RetiredKeyPublishedFor))
	if err != nil {
		t.Fatal(err)
	}
	if kids := jwksKids(t, k4.JWKS()); !slices.Equal(kids, []string{k2.KeyID()}) {
		t.Fatalf("/certs after the retention: %v", kids)
	}
	// Crash after step 1: the key in use is also listed as retired.
	dup := "-----BEGIN CERTIFICATE-----\nRetired-At: " + now.Format(time.RFC3339) + "\n\n" +
		strings.SplitN(strings.SplitN(string(pemCert(k4.Certificate().Raw)), "-----BEGIN CERTIFICATE-----\n", 2)[1], "-----END", 2)[0] + "-----END CERTIFICATE-----\n"
	if err := os.WriteFile(filepath.Join(dir, RetiredSigningCertsFile), []byte(dup), 0o644); err != nil {
		t.Fatal(err)
	}
	k5, err := LoadOrCreateSigningKey(dir, "https://a.example", now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if kids := jwksKids(t, k5.JWKS()); !slices.Equal(kids, []string{k2.KeyID()}) {
		t.Fatalf("/certs with the current key also retired: %v", kids)
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
	r := mustStatus(t, e.do("POST", "/admin/v1/signing-key/rotate", adminToken, nil), 200)
	var rot SigningKeyRotation
	if err := json.Unmarshal(r.body, &rot); err != nil {
		t.Fatal(err)
	}
	if rot.PreviousKid != oldKid || rot.Kid == oldKid || rot.Kid != e.srv.key.Load().KeyID() || rot.PublishedUntil.IsZero() {
		t.Fatalf("rotation %+v (old kid %s)", rot, oldKid)
	}
	if kids := jwksKids(t, mustStatus(t, e.do("GET", "/certs", "", nil), 200).body); !slices.Equal(kids, []string{rot.Kid, oldKid}) {
		t.Fatalf("/certs kids %v", kids)
	}
	after := e.attest(q, rt, "").token(t)
	if h, _ := tokenParts(t, after); !strings.Contains(h, `"kid":"`+rot.Kid+`"`) {
		t.Fatalf("new token header %s, want kid %s", h, rot.Kid)
	}
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
	var page AuditPage
	_ = json.Unmarshal(e.do("GET", "/admin/v1/audit", "", nil).body, &page)
	last := page.Entries[len(page.Entries)-1]
	if last.Action != audit.ActionSigningKeyRotate || last.Details["kid"] != rot.Kid || last.Details["previous_kid"] != oldKid || last.Actor != "token:admin" {
		t.Fatalf("audit entry %+v", last)
	}
	// The new key is the one on disk.
	k, err := LoadOrCreateSigningKey(e.cfg.DataDir, e.cfg.Issuer, time.Now())
	if err != nil || k.KeyID() != rot.Kid {
		t.Fatalf("key on disk: %v, %v", k, err)
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
