package kube

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/store"
)

// SchemaVersion is the ledger layout this build writes; a ledger with a
// higher one is refused with a *store.SchemaError.
const SchemaVersion = 1

// Options configures Open. The zero value is not usable: a client (Client or
// Config) and a Namespace are required, and nothing is guessed.
type Options struct {
	// Client talks to the API server. It must read from the server, not from
	// an informer cache (client.New, not a manager's GetClient): reads are
	// consistent only then. Its scheme must know package api/v1alpha1.
	// Zero: a client is built from Config.
	Client client.Client
	// Config builds the client when Client is nil (rest.InClusterConfig or a
	// kubeconfig, chosen by the caller).
	Config *rest.Config
	// Namespace holds the store's objects. Required.
	Namespace string
	// ReadOnly never writes: Open does not create the ledger (a namespace
	// without one is an error), Commit fails with store.ErrReadOnly, and a
	// commit left half-materialized by a crashed writer is read through the
	// ledger rather than rolled forward. Zero: read-write.
	ReadOnly bool
	// Observe, when set, is called after every API call with its operation
	// ("get AttestdLedger", "update AttestdLedger", "list AttestdRelease", ...),
	// its latency and its error (a lost ledger race is an "update
	// AttestdLedger" whose error satisfies apierrors.IsConflict), and after
	// every Commit ("commit"; errors.Is(err, store.ErrConflict) for a
	// conflict) and background roll-forward ("roll-forward"). It must be
	// safe for concurrent use and must not block. Zero: nothing is reported.
	Observe func(op string, d time.Duration, err error)
}

// Store is the store.Store on the Kubernetes API. It is safe for concurrent
// use, and any number of Stores (in any number of processes) may share a
// namespace.
type Store struct {
	c        client.Client
	ns       string
	readOnly bool
	observe  func(string, time.Duration, error)
	closed   atomic.Bool

	mu      sync.Mutex
	applied string // ID of the last intent this Store saw fully materialized
}

var _ store.Store = (*Store)(nil)

// Open connects to the store in opts.Namespace, creating its ledger when
// missing (unless read-only), and finishes a commit that a crashed writer
// left half-materialized. Errors: the CRDs are not installed, the ledger is
// from a newer schema (*store.SchemaError), no ledger in read-only mode
// (store.ErrNotFound), or the API server cannot be reached.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if errs := validation.IsDNS1123Label(opts.Namespace); opts.Namespace == "" || len(errs) > 0 {
		return nil, fmt.Errorf("kube: namespace %q: want a DNS label", opts.Namespace)
	}
	c := opts.Client
	if c == nil {
		if opts.Config == nil {
			return nil, errors.New("kube: Options.Client or Options.Config is required")
		}
		sch := runtime.NewScheme()
		if err := v1.AddToScheme(sch); err != nil {
			return nil, err
		}
		cfg := rest.CopyConfig(opts.Config)
		cfg.WarningHandlerWithContext = rest.NoWarnings{} // the library never logs
		var err error
		if c, err = client.New(cfg, client.Options{Scheme: sch, Log: logr.Discard()}); err != nil {
			return nil, fmt.Errorf("kube: client: %w", err)
		}
	} else if !c.Scheme().Recognizes(v1.GroupVersion.WithKind(kindLedger)) {
		return nil, fmt.Errorf("kube: the client's scheme lacks %s (add api/v1alpha1.AddToScheme)", v1.GroupVersion)
	}
	s := &Store{c: c, ns: opts.Namespace, readOnly: opts.ReadOnly, observe: opts.Observe}
	l, err := s.getLedger(ctx)
	if apierrors.IsNotFound(err) && !opts.ReadOnly {
		l = &v1.AttestdLedger{Spec: v1.AttestdLedgerSpec{Schema: SchemaVersion}}
		l.Name, l.Namespace = ledgerName, s.ns
		l.Labels = managedLabels()
		err = s.call("create", kindLedger, func() error { return s.c.Create(ctx, l) })
		if apierrors.IsAlreadyExists(err) {
			l, err = s.getLedger(ctx)
		}
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("kube: no attestd store in namespace %s (no %s %s): %w", s.ns, kindLedger, ledgerName, store.ErrNotFound)
	case meta.IsNoMatchError(err):
		return nil, fmt.Errorf("kube: the sgxops CRDs are not installed (config/crd/bases): %w", err)
	case err != nil:
		return nil, fmt.Errorf("kube: opening the store in namespace %s: %w", s.ns, err)
	}
	if err := checkSchema(l); err != nil {
		return nil, err
	}
	if !s.readOnly {
		if err := s.rollForward(ctx, l, nil); err != nil {
			return nil, fmt.Errorf("kube: finishing the last commit in namespace %s: %w", s.ns, err)
		}
	}
	return s, nil
}

func checkSchema(l *v1.AttestdLedger) error {
	switch v := l.Spec.Schema; {
	case v > SchemaVersion:
		return &store.SchemaError{Found: uint64(v), Supported: SchemaVersion}
	case v < 1:
		return corrupt("%s %s/%s: schema %d", kindLedger, l.Namespace, l.Name, v)
	}
	return nil
}

func managedLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/managed-by": "attestd", "app.kubernetes.io/part-of": "sgxops"}
}

// Namespace returns the namespace the store lives in.
func (s *Store) Namespace() string { return s.ns }

// Close marks the store closed; further calls fail with store.ErrClosed.
// The client is the caller's and stays open.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}

// Ping reports whether the store is reachable and in sync: the ledger can
// be read, its schema is supported, and (unless read-only) the last commit
// is materialized, rolling it forward if needed. For readiness probes.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	l, err := s.getLedger(ctx)
	if err != nil {
		return fmt.Errorf("kube: reading the ledger: %w", err)
	}
	if err := checkSchema(l); err != nil {
		return err
	}
	if s.readOnly {
		return nil // reads resolve a commit that is not materialized yet
	}
	return s.rollForward(ctx, l, nil)
}

func (s *Store) usable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return store.ErrClosed
	}
	return nil
}

// call runs one API call and reports it to Observe.
func (s *Store) call(verb, kind string, fn func() error) error {
	start := time.Now()
	err := fn()
	if s.observe != nil {
		s.observe(verb+" "+kind, time.Since(start), err)
	}
	return err
}

func (s *Store) report(op string, start time.Time, err error) {
	if s.observe != nil {
		s.observe(op, time.Since(start), err)
	}
}

func (s *Store) getLedger(ctx context.Context) (*v1.AttestdLedger, error) {
	l := &v1.AttestdLedger{}
	err := s.call("get", kindLedger, func() error {
		return s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: ledgerName}, l)
	})
	return l, err
}
