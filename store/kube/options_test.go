package kube_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/internal/k8stest"
	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/kube"
)

// TestOpenRejects: the zero Options and incomplete ones are refused before
// any API call (nothing is guessed).
func TestOpenRejects(t *testing.T) {
	ctx := context.Background()
	bare, err := client.New(&rest.Config{Host: "https://127.0.0.1:1"}, client.Options{Scheme: runtime.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string]kube.Options{
		"zero":             {},
		"no client":        {Namespace: "attestd"},
		"bad namespace":    {Namespace: "Attestd", Config: &rest.Config{Host: "https://127.0.0.1:1"}},
		"scheme lacks api": {Namespace: "attestd", Client: bare},
	} {
		if _, err := kube.Open(ctx, opts); err == nil || !strings.HasPrefix(err.Error(), "kube: ") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// TestOpenAndPing covers Open's own paths on the API server: a read-only
// open of an empty namespace, a ledger from a newer schema, Ping, Observe,
// the caller's config left untouched, and the size limit.
func TestOpenAndPing(t *testing.T) {
	k8stest.Skip(t)
	ctx := context.Background()
	ns := namespace(t)
	if _, err := kube.Open(ctx, kube.Options{Client: env.Client, Namespace: ns, ReadOnly: true}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("read-only Open of an empty namespace: %v", err)
	}

	cfg := rest.CopyConfig(env.Config)
	before := *cfg
	var mu sync.Mutex
	ops := map[string]int{}
	s, err := kube.Open(ctx, kube.Options{Config: cfg, Namespace: ns, Observe: func(op string, d time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		ops[op]++
	}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WarningHandlerWithContext != before.WarningHandlerWithContext || cfg.Host != before.Host {
		t.Fatal("Open changed the caller's rest.Config")
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, store.Change{Audit: []audit.Record{rec(audit.ActionRegister, "", "")}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	for _, op := range []string{"create AttestdLedger", "get AttestdLedger", "update AttestdLedger", "create AttestdAuditSegment", "commit"} {
		if ops[op] == 0 {
			t.Errorf("Observe never saw %q: %v", op, ops)
		}
	}
	mu.Unlock()

	// A policy too large for one object: refused as an invalid change.
	big := strings.Repeat("x", kube.MaxIntentBytes)
	_, err = s.Commit(ctx, store.Change{Policies: []store.PolicyPut{{Type: "SgxEnclave", Text: big, JWS: "j", UpdatedAt: t0}}})
	if !errors.Is(err, kube.ErrTooLarge) || !errors.Is(err, store.ErrInvalidChange) {
		t.Fatalf("oversized change: %v", err)
	}

	// A ledger written by a newer schema is refused.
	var l v1.AttestdLedger
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ledger"}, &l); err != nil {
		t.Fatal(err)
	}
	l.Spec.Schema = kube.SchemaVersion + 1
	if err := env.Client.Update(ctx, &l); err != nil {
		t.Fatal(err)
	}
	var se *store.SchemaError
	if _, err := kube.Open(ctx, kube.Options{Client: env.Client, Namespace: ns}); !errors.As(err, &se) {
		t.Fatalf("newer schema: %v", err)
	}
	if err := s.Ping(ctx); !errors.As(err, &se) {
		t.Fatalf("Ping on a newer schema: %v", err)
	}
	s.Close()
	if err := s.Ping(ctx); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Ping after Close: %v", err)
	}
}
