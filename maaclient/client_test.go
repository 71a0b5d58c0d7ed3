package maaclient_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgxops/sgxops/attestd"
	"github.com/sgxops/sgxops/maaclient"
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
