package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/internal/cli"
	"github.com/sgxops/sgxops/internal/k8stest"
	"github.com/sgxops/sgxops/registry"
	"github.com/sgxops/sgxops/release"
	"github.com/sgxops/sgxops/store/kube"
)

// TestAuditKubernetes verifies and prints the audit log of attestd's
// Kubernetes store on a real API server (envtest), found through
// --kubeconfig and through $KUBECONFIG, then breaks an entry by hand.
func TestAuditKubernetes(t *testing.T) {
	k8stest.Skip(t)
	env, err := k8stest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer env.Stop()
	ctx := context.Background()
	ns := "audit-cli"
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	s, err := kube.Open(ctx, kube.Options{Client: env.Client, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	reg := registry.New(s, registry.Options{Now: func() time.Time { now = now.Add(time.Second); return now }})
	if _, err := reg.Register(ctx, "ci bot", release.Release{App: "hello", Name: "blue", MREnclave: fmt.Sprintf("%064x", 0xabc)}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Activate(ctx, "operator", "hello", "blue", time.Hour); err != nil {
		t.Fatal(err)
	}

	kc := filepath.Join(t.TempDir(), "kubeconfig")
	writeKubeconfig(t, env, kc)
	kubeArgs := []string{"--store", "kubernetes", "--store-namespace", ns}

	code, out, errOut := auditMain(append([]string{"verify", "--kubeconfig", kc}, kubeArgs...)...)
	if code != cli.ExitOK || !strings.Contains(out, "audit log valid: 2 entries") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}
	t.Setenv("KUBECONFIG", kc)
	code, out, errOut = auditMain(append([]string{"verify", "-o", "json"}, kubeArgs...)...)
	var res struct {
		Valid   bool   `json:"valid"`
		Entries uint64 `json:"entries"`
	}
	if code != cli.ExitOK || json.Unmarshal([]byte(out), &res) != nil || !res.Valid || res.Entries != 2 {
		t.Fatalf("verify via $KUBECONFIG: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = auditMain(append([]string{"log"}, kubeArgs...)...)
	if code != cli.ExitOK || !strings.Contains(out, "register") || !strings.Contains(out, "activate") {
		t.Fatalf("log: exit %d\n%s%s", code, out, errOut)
	}

	// Usage and missing stores.
	for _, args := range [][]string{
		{"verify", "--store", "kubernetes"},
		{"verify", "--store", "etcd", "--store-namespace", ns},
	} {
		if code, _, errOut := auditMain(args...); code != cli.ExitUsage {
			t.Errorf("%v: exit %d: %s", args, code, errOut)
		}
	}
	if code, _, errOut := auditMain("verify", "--store", "kubernetes", "--store-namespace", "nothing-here"); code != cli.ExitInvalidInput || !strings.Contains(errOut, "no attestd store") {
		t.Errorf("empty namespace: exit %d: %s", code, errOut)
	}

	// An entry edited in its segment: exit 3 at that seq.
	var seg v1.AttestdAuditSegment
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "audit-0000000000000001"}, &seg); err != nil {
		t.Fatal(err)
	}
	seg.Spec.Entries[1].Actor = "mallory"
	if err := env.Client.Update(ctx, &seg); err != nil {
		t.Fatal(err)
	}
	code, out, _ = auditMain(append([]string{"verify"}, kubeArgs...)...)
	if code != cli.ExitVerifyFailed || !strings.Contains(out, "BROKEN at seq 2") {
		t.Fatalf("tampered: exit %d\n%s", code, out)
	}
}

// writeKubeconfig writes a kubeconfig for env's API server (admin client certificate).
func writeKubeconfig(t *testing.T, env *k8stest.Env, path string) {
	t.Helper()
	c := env.Config
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: c.CertData, ClientKeyData: c.KeyData, Token: c.BearerToken}
	cfg.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	cfg.CurrentContext = "envtest"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}
