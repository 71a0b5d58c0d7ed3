package kube_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sgxops/sgxops/audit"
	"github.com/sgxops/sgxops/internal/k8stest"
	"github.com/sgxops/sgxops/store"
	"github.com/sgxops/sgxops/store/kube"
	"github.com/sgxops/sgxops/store/storetest"
)

// env is the API server (kube-apiserver + etcd) shared by the package's
// tests; nil without control-plane binaries (tests then skip).
var env *k8stest.Env

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run()) // fuzz targets need no API server (and each worker would start one)
	}
	os.Exit(k8stest.Main(m, &env))
}

var nsCounter atomic.Int64

// namespace creates a fresh namespace for one test or store instance.
func namespace(t testing.TB) string {
	t.Helper()
	k8stest.Skip(t)
	ns := fmt.Sprintf("kstore-%d-%d", os.Getpid()%10000, nsCounter.Add(1))
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	return ns
}

func open(t testing.TB, ns string, mod ...func(*kube.Options)) *kube.Store {
	t.Helper()
	opts := kube.Options{Client: env.Client, Namespace: ns}
	for _, f := range mod {
		f(&opts)
	}
	s, err := kube.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	k8stest.Skip(t)
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, namespace(t)) })
}

// TestConformanceConfig runs the suite on stores built from a *rest.Config
// (the path attestd uses), two of which share each namespace: every commit
// of one must be visible to the other at once.
func TestConformanceConfig(t *testing.T) {
	k8stest.Skip(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		ns := namespace(t)
		a := open(t, ns, func(o *kube.Options) { o.Client, o.Config = nil, env.Config })
		b := open(t, ns, func(o *kube.Options) { o.Client, o.Config = nil, env.Config })
		return &pair{Store: a, b: b}
	})
}

// pair commits through one store and reads through the other.
type pair struct {
	*kube.Store // commits
	b           *kube.Store
	closed      bool
}

func (p *pair) Close() error {
	p.closed = true
	p.b.Close()
	return p.Store.Close()
}

func (p *pair) reader() *kube.Store {
	if p.closed {
		return p.Store
	}
	return p.b
}

func (p *pair) GetRelease(ctx context.Context, app, name string) (store.ReleaseRecord, error) {
	return p.reader().GetRelease(ctx, app, name)
}

func (p *pair) ListReleases(ctx context.Context, app string) ([]store.ReleaseRecord, error) {
	return p.reader().ListReleases(ctx, app)
}

func (p *pair) GetPolicy(ctx context.Context, typ string) (store.PolicyRecord, error) {
	return p.reader().GetPolicy(ctx, typ)
}

func (p *pair) ListAudit(ctx context.Context, after uint64, limit int) ([]audit.Entry, error) {
	return p.reader().ListAudit(ctx, after, limit)
}
