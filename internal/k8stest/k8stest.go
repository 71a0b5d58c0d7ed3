// Package k8stest starts a real Kubernetes API server (kube-apiserver + etcd,
// through controller-runtime's envtest) for tests, with the project's CRDs
// installed. The binaries come from scripts/k8s/install-control-plane.sh
// (built from the Go module proxy); KUBEBUILDER_ASSETS names their directory.
//
// Without the binaries a test skips with one line saying how to get them,
// unless SGXOPS_REQUIRE_K8S=1 (set by make test and CI), where it fails.
package k8stest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	sgxopsv1 "github.com/sgxops/sgxops/api/v1alpha1"
)

// K8sVersion is the Kubernetes version the install script builds.
const K8sVersion = "1.37.2"

// Env is a running API server.
type Env struct {
	Config *rest.Config
	Client client.Client
	Scheme *k8sruntime.Scheme
	env    *envtest.Environment
}

// RepoRoot returns the repository root (the directory holding go.mod).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Assets returns the directory of the control-plane binaries: KUBEBUILDER_ASSETS,
// else the install script's default cache when it holds them; "" when none.
func Assets() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	cache := os.Getenv("K8S_CP_CACHE")
	if cache == "" {
		cache = filepath.Join(home, ".cache", "k8s-control-plane")
	}
	d := filepath.Join(cache, "k8s", K8sVersion+"-"+runtime.GOOS+"-"+runtime.GOARCH)
	for _, f := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(d, f)); err != nil {
			return ""
		}
	}
	return d
}

// Required reports whether tests must fail rather than skip without a control plane.
func Required() bool { return os.Getenv("SGXOPS_REQUIRE_K8S") == "1" }

// Skip skips (or, when Required, fails) tb when no control plane is available,
// and returns the assets directory otherwise.
func Skip(tb testing.TB) string {
	tb.Helper()
	d := Assets()
	if d != "" {
		return d
	}
	msg := "no kube-apiserver/etcd: run `export KUBEBUILDER_ASSETS=$(scripts/k8s/install-control-plane.sh)` (builds them once, 9-20 min cold) or `make test`"
	if Required() {
		tb.Fatal("SGXOPS_REQUIRE_K8S=1: " + msg)
	}
	tb.Skip(msg)
	return ""
}

// Start starts an API server with the project's CRDs (config/crd/bases)
// installed, and a client for it. Stop it with Stop.
func Start() (*Env, error) {
	assets := Assets()
	if assets == "" {
		return nil, fmt.Errorf("k8stest: no control-plane binaries (KUBEBUILDER_ASSETS unset and none in the cache); run scripts/k8s/install-control-plane.sh")
	}
	sch, err := NewScheme()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                sch,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("k8stest: start API server: %w", err)
	}
	c, err := NewClient(cfg)
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &Env{Config: cfg, Client: c, Scheme: sch, env: env}, nil
}

// NewScheme returns a scheme with the Kubernetes and sgxops types.
func NewScheme() (*k8sruntime.Scheme, error) {
	sch := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(sch); err != nil {
		return nil, err
	}
	if err := sgxopsv1.AddToScheme(sch); err != nil {
		return nil, err
	}
	return sch, nil
}

// NewClient returns a client for cfg that knows the Kubernetes and sgxops types.
func NewClient(cfg *rest.Config) (client.Client, error) {
	sch, err := NewScheme()
	if err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: sch})
}

// Stop stops the API server.
func (e *Env) Stop() error { return e.env.Stop() }

// Main is a TestMain helper: it starts one API server for the package's
// tests when the binaries are there, runs the tests, and stops it. *env is
// nil when there is no control plane (tests then call Skip).
func Main(m *testing.M, env **Env) int {
	if Assets() != "" {
		e, err := Start()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		*env = e
		defer func() {
			if err := e.Stop(); err != nil && !strings.Contains(err.Error(), "timeout") {
				fmt.Fprintln(os.Stderr, "k8stest: stop:", err)
			}
		}()
	}
	return m.Run()
}

// Tool returns the path of a tool the tests run (helm, tofu): $envVar, else
// the cache of scripts/install-tools.sh, else PATH. Without it the test
// skips with one line naming how to get it, or fails when Required.
func Tool(tb testing.TB, name, envVar, hint string) string {
	tb.Helper()
	if p := os.Getenv(envVar); p != "" {
		return p
	}
	cache := os.Getenv("SGXOPS_TOOLS_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "sgxops-tools", "bin")
	}
	if p := filepath.Join(cache, name); isExec(p) {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := fmt.Sprintf("no %s: run scripts/install-tools.sh %s (%s) or set %s", name, name, hint, envVar)
	if Required() {
		tb.Fatal("SGXOPS_REQUIRE_K8S=1: " + msg)
	}
	tb.Skip(msg)
	return ""
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}
