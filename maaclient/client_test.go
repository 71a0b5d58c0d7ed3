package maaclient_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgxops/sgxops/attestd"
	"github.com/sgxops/sgxops/maaclient"
	"github.com/sgxops/sgxops/snp"
)

// TestCertsRefetchIsRateLimited: tokens come from whoever talks to
// the relying party; one naming an unknown kid may make the client read
// /certs at most once per interval, also when tokens arrive together and
// when /certs fails. Concurrent first verifications share one fetch.
func TestCertsRefetchIsRateLimited(t *testing.T) {
	hs := httptest.NewUnstartedServer(nil)
	url := "http://" + hs.Listener.Addr().String()
	key, err := attestd.NewSigningKey(rsaKey(0), url, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	var failing atomic.Bool
	hs.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/certs" {
			http.NotFound(w, r)
			return
		}
		hits.Add(1)
		time.Sleep(20 * time.Millisecond) // concurrent callers overlap with the fetch
		if failing.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(key.JWKS())
	})
	hs.Start()
	t.Cleanup(hs.Close)

	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	c, err := maaclient.New(url, maaclient.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	good, err := key.Sign(claims(url, now()))
	if err != nil {
		t.Fatal(err)
	}
	unknown := compact(t, map[string]any{"alg": "RS256", "jku": url + "/certs", "kid": "rotated", "typ": "JWT"}, claims(url, now()), rsaKey(0))
	exp := maaclient.Expectations{AnyIdentity: true}
	burst := func(n int, concurrent bool, tok string, want maaclient.Reason) {
		var wg sync.WaitGroup
		for range n {
			call := func() {
				_, err := c.Verify(context.Background(), tok, exp)
				switch {
				case want == 0 && err != nil:
					t.Errorf("verify: %v", err)
				case want != 0 && !errors.Is(err, &maaclient.Error{Reason: want}):
					t.Errorf("verify: %v, want reason %v", err, want)
				}
			}
			if concurrent {
				wg.Go(call)
			} else {
				call()
			}
		}
		wg.Wait()
	}

	burst(16, true, good, 0)
	if got := hits.Load(); got != 1 {
		t.Errorf("16 concurrent first verifications made %d /certs fetches, want 1", got)
	}

	advance(time.Minute)
	base := hits.Load()
	burst(16, true, unknown, maaclient.ReasonUnknownKey)
	if got := hits.Load() - base; got > 1 {
		t.Errorf("16 concurrent tokens with an unknown kid made %d /certs fetches, want at most 1", got)
	}

	failing.Store(true)
	advance(time.Minute)
	base = hits.Load()
	for range 5 {
		if _, err := c.Verify(context.Background(), unknown, exp); err == nil {
			t.Fatal("unknown kid accepted")
		}
	}
	if got := hits.Load() - base; got > 1 {
		t.Errorf("5 tokens with an unknown kid against a failing /certs made %d fetches, want at most 1", got)
	}
	// Cached keys keep working while /certs is down.
	burst(1, false, good, 0)
}

// TestCertsFirstFetchFailure: when the very first /certs read fails,
// later verifications retry (rate limited) and then succeed.
func TestCertsFirstFetchFailure(t *testing.T) {
	hs := httptest.NewUnstartedServer(nil)
	url := "http://" + hs.Listener.Addr().String()
	key, err := attestd.NewSigningKey(rsaKey(0), url, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var failing atomic.Bool
	failing.Store(true)
	hs.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(key.JWKS())
	})
	hs.Start()
	t.Cleanup(hs.Close)
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	c, _ := maaclient.New(url, maaclient.Options{Now: now})
	good, _ := key.Sign(claims(url, now()))
	exp := maaclient.Expectations{AnyIdentity: true}
	if _, err := c.Verify(context.Background(), good, exp); !errors.Is(err, &maaclient.Error{Reason: maaclient.ReasonKeys}) {
		t.Fatalf("first fetch failing: %v, want reason keys", err)
	}
	failing.Store(false)
	mu.Lock()
	clock = clock.Add(time.Minute)
	mu.Unlock()
	if _, err := c.Verify(context.Background(), good, exp); err != nil {
		t.Fatalf("after /certs recovered: %v", err)
	}
}

// TestAttestSevSnpRequest: AttestSevSnp sends MAA's SevSnpVm body (report =
// base64url of {"SnpReport","VcekCertChain"}, runtimeData, initTimeData,
// nonce), which attestd's decoder and the SNP evidence parser accept with
// the report and certificates intact; and it checks HOST_DATA against
// SHA-256(initTimeData) itself, so a service that ignores initTimeData
// (here: one answering with attestd's token for the same report) is caught.
func TestAttestSevSnpRequest(t *testing.T) {
	c := snpCase(t, "virtee-milan-vcek")
	raw, chain := snpFiles(t, c)
	tok := snpToken(t, c.ID)
	is := newIssuer(t)
	var got *attestd.AttestRequest
	is.attest = func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		req, err := attestd.DecodeAttestRequest(attestd.KindSEVSNP, b)
		if err != nil || r.URL.Path != "/attest/SevSnpVm" || r.URL.Query().Get("sgxops-app") != "snp" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		got = req
		m := payload(t, tok)
		m["iss"], m["nonce"] = is.url, req.Nonce
		s, _ := is.key.Sign(m)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(map[string]string{"token": s})
	}
	cl, _ := maaclient.New(is.url, maaclient.Options{})
	ao := maaclient.AttestOptions{App: "snp", InitTimeData: []byte(`{"launch":"config"}`), InitTimeDataJSON: true, Nonce: "n"}
	_, err := cl.AttestSevSnp(context.Background(), raw, chain, ao, maaclient.CVMExpectations{AnyIdentity: true})
	wantReason(t, err, maaclient.ReasonMeasurement)
	if err == nil || !strings.Contains(err.Error(), "HOST_DATA") {
		t.Fatalf("err = %v, want a HOST_DATA mismatch", err)
	}
	if got == nil || got.InitTimeData == nil || !bytes.Equal(got.InitTimeData.Bytes, ao.InitTimeData) || !got.InitTimeData.JSON || got.Nonce != "n" {
		t.Fatalf("request %+v", got)
	}
	ev, err := snp.ParseEvidence(got.Quote, nil)
	if err != nil || !bytes.Equal(ev.Report, raw) || len(ev.Certs) != 3 {
		t.Fatalf("evidence sent: %v (%d certificates)", err, len(ev.Certs))
	}
	if sum := sha256.Sum256(ao.InitTimeData); bytes.Equal(sum[:], ev.Report[0xC0:0xE0]) {
		t.Fatal("the report's HOST_DATA binds the test's initTimeData")
	}
	// Without initTimeData, the same answer verifies (HOST_DATA pinned to
	// what the report has).
	_, err = cl.AttestSevSnp(context.Background(), raw, chain, maaclient.AttestOptions{App: "snp", Nonce: "n"},
		maaclient.CVMExpectations{AnyIdentity: true, HostData: hex.EncodeToString(ev.Report[0xC0:0xE0])})
	wantReason(t, err, 0)
}
