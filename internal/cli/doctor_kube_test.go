package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/sgxops/sgxops/doctor"
	"github.com/sgxops/sgxops/internal/k8stest"
)

// TestDoctorCluster: `doctor --host=false --cluster` finds the API server
// through --kubeconfig and reports the cluster checks (package doctor/kube
// tests each check; this tests the wiring). No kubelet runs: the test writes
// the node's allocatable EPC itself.
func TestDoctorCluster(t *testing.T) {
	k8stest.Skip(t)
	env, err := k8stest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer env.Stop()
	ctx := context.Background()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "sgx-0", Labels: map[string]string{"sgxops.io/sgx": "true"}}}
	if err := env.Client.Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	n.Status.Allocatable = corev1.ResourceList{"kubernetes.azure.com/sgx_epc_mem_in_MiB": resource.MustParse("8192")}
	if err := env.Client.Status().Update(ctx, n); err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	doctorKubeconfig(t, env, kc)

	var out, errb bytes.Buffer
	code := Main([]string{"doctor", "--host=false", "--cluster", "--kubeconfig", kc, "--attestd-namespace", "sgxops", "-o", "json"}, &out, &errb)
	if code != doctorExitFail {
		t.Fatalf("exit %d, want %d (no device plugin, no attestd)\n%s\n%s", code, doctorExitFail, out.String(), errb.String())
	}
	var rep struct {
		Status string
		Checks []doctor.Result
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	got := map[string]doctor.Status{}
	for _, c := range rep.Checks {
		got[c.ID] = c.Status
	}
	want := map[string]doctor.Status{"k8s.sgx-nodes": doctor.OK, "k8s.epc": doctor.OK, "k8s.device-plugin": doctor.Fail,
		"k8s.quote-helper": doctor.Warn, "k8s.attestd-ready": doctor.Fail, "k8s.attestd-certs": doctor.Fail}
	if len(rep.Checks) != len(want) {
		t.Fatalf("%d checks, want %d: %+v", len(rep.Checks), len(want), rep.Checks)
	}
	for id, st := range want {
		if got[id] != st {
			t.Errorf("%s = %s, want %s", id, got[id], st)
		}
	}

	out.Reset()
	errb.Reset()
	code = Main([]string{"doctor", "--host=false", "--cluster", "--kubeconfig", filepath.Join(t.TempDir(), "missing")}, &out, &errb)
	if code != ExitUsage || out.Len() != 0 || !strings.Contains(errb.String(), "kubeconfig") {
		t.Errorf("missing kubeconfig: exit %d, want %d, no report, a kubeconfig message; stdout %q stderr %q", code, ExitUsage, out.String(), errb.String())
	}
}

// doctorKubeconfig writes a kubeconfig for env's API server (admin client certificate).
func doctorKubeconfig(t *testing.T, env *k8stest.Env, path string) {
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
