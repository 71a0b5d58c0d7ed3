package chart

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sgxops/sgxops/internal/k8stest"
)

var env *k8stest.Env

func TestMain(m *testing.M) { os.Exit(k8stest.Main(m, &env)) }

// TestDryRunApply server-side applies every rendered object with dryRun=All
// against a real kube-apiserver (the project's CRDs installed by k8stest,
// and the chart's own CRDs applied the same way): the API server's schema
// validation, defaulting and admission run on the chart as a cluster would.
// Nothing is created but the namespaces; no kubelet runs, so no pod starts.
func TestDryRunApply(t *testing.T) {
	k8stest.Skip(t)
	if env == nil {
		t.Fatal("no API server")
	}
	ctx := context.Background()
	crds, _ := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
	var crdObjs []*unstructured.Unstructured
	for _, f := range crds {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		crdObjs = append(crdObjs, decode(t, string(b))...)
	}
	tests := []struct {
		name, ns string
		args     []string
	}{
		{"default", "chart-default", nil},
		{"simulation", "chart-simulation", []string{"-f", simValues}},
		{"options", "chart-options", []string{"--set", "collateral.source=pccs", "--set", "collateral.pccs.url=https://pccs.example",
			"--set", "attestd.ingress.enabled=true", "--set", "attestd.ingress.host=attestd.example", "--set", "operator.watchNamespace=chart-options",
			"--set", "attestd.tls.secretName=attestd-tls", "--set", "operator.replicas=2"}},
		{"doctor and public attestd", "chart-doctor", []string{"--set", "doctor.enabled=true", "--set", "doctor.fmspc=00906ed50000",
			"--set", "attestd.service.type=LoadBalancer", "--set", `attestd.service.annotations.service\.beta\.kubernetes\.io/azure-pip-name=sgxops-attestd`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := render(t, tt.ns, tt.args...)
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tt.ns}}
			if err := env.Client.Create(ctx, ns); err != nil {
				t.Fatal(err)
			}
			for _, o := range append(crdObjs, objs...) {
				o = o.DeepCopy() // Patch writes the server's answer into the object
				err := env.Client.Patch(ctx, o, client.Apply, client.DryRunAll, client.ForceOwnership, client.FieldOwner("helm-dry-run"))
				if err != nil {
					t.Errorf("%s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
				}
			}
			t.Logf("%d objects (and %d CRDs) accepted by the API server", len(objs), len(crdObjs))
		})
	}
}

// TestDryRunApplyRefuses shows the dry run is real validation: a value the
// values schema lets through (a free-form resource quantity) is refused by
// the API server.
func TestDryRunApplyRefuses(t *testing.T) {
	k8stest.Skip(t)
	if env == nil {
		t.Fatal("no API server")
	}
	ctx := context.Background()
	objs := render(t, "chart-refused", "--set", "attestd.resources.requests.cpu=lots")
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "chart-refused"}}); err != nil {
		t.Fatal(err)
	}
	d := find(objs, "Deployment", "sgxops-attestd").DeepCopy()
	err := env.Client.Patch(ctx, d, client.Apply, client.DryRunAll, client.ForceOwnership, client.FieldOwner("helm-dry-run"))
	if err == nil {
		t.Fatal("the API server accepted cpu: lots")
	}
	t.Logf("refused as expected: %v", err)
}
