package chart

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sgxops/sgxops/attestd"
	"github.com/sgxops/sgxops/attestd/config"
	"github.com/sgxops/sgxops/examples/aggregate"
	"github.com/sgxops/sgxops/internal/cli"
	"github.com/sgxops/sgxops/internal/k8stest"
	"github.com/sgxops/sgxops/ra"
	"github.com/sgxops/sgxops/sim"
)

// TestAttestdWithChartRBAC runs attestd with the container arguments the
// chart renders (simulation values; only paths, addresses and the API
// server's kubeconfig replaced) against the real API server, as the chart's
// ServiceAccount with exactly the chart's Role: attestd creates its
// signing-key Secret, stores a release as custom resources, and
// "sgxops probe" (what the operator's test Job runs) attests a sample
// service through it. So the Role is enough; and without the RoleBinding,
// the same identity is refused. No kubelet: attestd runs in this process.
func TestAttestdWithChartRBAC(t *testing.T) {
	k8stest.Skip(t)
	if env == nil {
		t.Fatal("no API server")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const ns = "chart-rbac"
	objs := render(t, ns, "-f", simValues, "--set", "attestd.store.exemptUsers[0]=break-glass")
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	// The trust-set admission policy is in force before attestd writes anything.
	protectTrustSet(ctx, t, objs, ns)
	sa := "system:serviceaccount:" + ns + ":sgxops-attestd"
	asSA := rest.CopyConfig(env.Config)
	asSA.Impersonate = rest.ImpersonationConfig{UserName: sa, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}}
	saClient, err := client.New(asSA, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	// Before the chart's RBAC: refused (the API server authorizes with RBAC).
	var s corev1.Secret
	if err := saClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sgxops-attestd-signing-key"}, &s); !apierrors.IsForbidden(err) {
		t.Fatalf("without the Role: %v, want Forbidden", err)
	}
	for _, kind := range []string{"ServiceAccount", "Role", "RoleBinding", "Secret"} {
		name := "sgxops-attestd"
		if kind == "Secret" {
			name = "sgxops-attestd-admin"
		}
		o := find(objs, kind, name)
		if o == nil {
			t.Fatalf("no %s %s rendered", kind, name)
		}
		if err := env.Client.Create(ctx, o.DeepCopy()); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
	}
	// The admin token the chart generated, as the pod would see the mounted file.
	sec := find(objs, "Secret", "sgxops-attestd-admin")
	tokenB64, _, _ := unstructured.NestedString(sec.Object, "data", "token")
	dir := t.TempDir()
	token := decodeB64(t, tokenB64)
	writeFile(t, filepath.Join(dir, "admin-token"), token)

	// The SIMULATED platform: its Secret would be mounted; here files and a PCS on loopback.
	plat, err := sim.NewRandom(sim.Config{}, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := plat.Save(filepath.Join(dir, "sim")); err != nil {
		t.Fatal(err)
	}
	pcs := httptest.NewServer(sim.NewPCSServer(plat))
	defer pcs.Close()
	kubeconfig := writeKubeconfig(t, dir, asSA)

	port := freePort(t)
	issuer := fmt.Sprintf("http://127.0.0.1:%d", port)
	var args []string
	for _, a := range containerArgs(t, find(objs, "Deployment", "sgxops-attestd"), "attestd") {
		k, _, _ := strings.Cut(a, "=")
		switch k {
		case "--listen":
			a = fmt.Sprintf("--listen=127.0.0.1:%d", port)
		case "--issuer":
			a = "--issuer=" + issuer
		case "--data-dir":
			a = "--data-dir=" + filepath.Join(dir, "data")
		case "--admin-token-file":
			a = "--admin-token-file=" + filepath.Join(dir, "admin-token")
		case "--insecure-simulation-root":
			a = "--insecure-simulation-root=" + filepath.Join(dir, "sim", sim.RootCAFile)
		case "--pcs":
			a = "--pcs=" + pcs.URL
		}
		args = append(args, a)
	}
	args = append(args, "--kubeconfig="+kubeconfig, "--shutdown-delay=0s")
	t.Logf("attestd %s", strings.Join(args, " "))
	var logs syncBuffer
	done := make(chan int, 1)
	go func() { done <- runAttestd(ctx, args, &logs) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("attestd did not stop")
		}
	}()
	waitReady(t, issuer+"/readyz", done, &logs)

	// attestd made its signing-key Secret with the chart's rights.
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "sgxops-attestd-signing-key"}, &s); err != nil {
		t.Fatalf("signing-key Secret: %v\n%s", err, logs.String())
	}
	// A release, registered through the admin API, lands in the Kubernetes store.
	m, err := aggregate.Measure("v1")
	if err != nil {
		t.Fatal(err)
	}
	admin(t, issuer, token, "/admin/v1/releases", fmt.Sprintf(`{"app":%q,"name":"v1","mrenclave":%q}`, aggregate.App, hex.EncodeToString(m.MREnclave[:])))
	var rels unstructured.UnstructuredList
	rels.SetGroupVersionKind(schema.GroupVersionKind{Group: "sgxops.io", Version: "v1alpha1", Kind: "AttestdReleaseList"})
	if err := env.Client.List(ctx, &rels, client.InNamespace(ns)); err != nil || len(rels.Items) == 0 {
		t.Fatalf("AttestdReleases in %s: %d, %v", ns, len(rels.Items), err)
	}
	// The operator's test Job: sgxops probe against the sample service, through this attestd.
	svc, err := (&aggregate.Service{Version: "v1", Provider: &ra.SimulatedProvider{Platform: plat, Identity: aggregate.SimulatedIdentity(m, false)}, ProviderName: "sim"}).Handler()
	if err != nil {
		t.Fatal(err)
	}
	sample := httptest.NewServer(svc)
	defer sample.Close()
	probe := func(release string) (int, string) {
		var out, errb bytes.Buffer
		code := cli.Main([]string{"probe", "--service", sample.URL, "--attestd", issuer, "--app", aggregate.App, "--release", release, "--allow-simulated"}, &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := probe("v1"); code != 0 || !strings.Contains(out, "(candidate)") {
		t.Fatalf("probe v1: exit %d\n%s\nattestd log:\n%s", code, out, logs.String())
	}
	admin(t, issuer, token, "/admin/v1/releases/"+aggregate.App+"/v1/activate", "")
	if code, out := probe("v1"); code != 0 || !strings.Contains(out, "(active)") {
		t.Fatalf("probe v1 after activation: exit %d\n%s", code, out)
	}
	if code, out := probe("v2"); code != 1 {
		t.Fatalf("probe v2 (not registered): exit %d, want 1\n%s", code, out)
	}
	checkTrustSetRefusesHandEdits(ctx, t, ns, &rels.Items[0])
}

// trustSetPolicyName is the chart's ValidatingAdmissionPolicy for a store namespace.
func trustSetPolicyName(ns string) string { return "sgxops-attestd-trust-set." + ns }

// protectTrustSet creates the chart's trust-set ValidatingAdmissionPolicy and
// its binding, and waits until the API server enforces them (a policy takes
// effect asynchronously): an admin's dry-run create of an AttestdRelease in ns
// is refused.
func protectTrustSet(ctx context.Context, t *testing.T, objs []*unstructured.Unstructured, ns string) {
	t.Helper()
	for _, kind := range []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		o := find(objs, kind, trustSetPolicyName(ns))
		if o == nil {
			t.Fatalf("no %s %s rendered", kind, trustSetPolicyName(ns))
		}
		if err := env.Client.Create(ctx, o.DeepCopy()); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o.DeepCopy()) })
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := env.Client.Create(ctx, handRelease(ns, "probe-policy"), client.DryRunAll)
		if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
			if !strings.Contains(err.Error(), "written by attestd only") {
				t.Fatalf("refused, but not by the trust-set policy: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("dry-run create: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the trust-set policy was not enforced within 30 s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// handRelease is an AttestdRelease as someone might write it by hand.
func handRelease(ns, name string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{}
	o.SetGroupVersionKind(schema.GroupVersionKind{Group: "sgxops.io", Version: "v1alpha1", Kind: "AttestdRelease"})
	o.SetNamespace(ns)
	o.SetName(name)
	o.Object["spec"] = map[string]any{"app": "byhand", "name": name, "revision": int64(1), "state": "active",
		"mrenclave": strings.Repeat("ab", 32), "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"}
	return o
}

// checkTrustSetRefusesHandEdits: with the policy in force (and attestd's own
// writes admitted, above), a cluster admin can neither change, delete nor add
// trust-set objects in the store namespace, and the refusal names the object,
// the user and the way that works; the break-glass user of
// attestd.store.exemptUsers can; other namespaces are not affected.
func checkTrustSetRefusesHandEdits(ctx context.Context, t *testing.T, ns string, listed *unstructured.Unstructured) {
	t.Helper()
	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(listed.GroupVersionKind())
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(listed), stored); err != nil {
		t.Fatal(err)
	}
	edited := stored.DeepCopy()
	if err := unstructured.SetNestedField(edited.Object, "retired", "spec", "state"); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"update": env.Client.Update(ctx, edited.DeepCopy()),
		"delete": env.Client.Delete(ctx, stored.DeepCopy()),
		"create": env.Client.Create(ctx, handRelease(ns, "by-hand")),
	} {
		if !apierrors.IsForbidden(err) && !apierrors.IsInvalid(err) {
			t.Errorf("admin %s of a trust-set object: %v, want refused", name, err)
			continue
		}
		for _, want := range []string{"written by attestd only", "attestdreleases " + ns + "/", "attestd admin API"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("admin %s refused with %q; want it to name %q", name, err, want)
			}
		}
	}
	var again unstructured.Unstructured
	again.SetGroupVersionKind(stored.GroupVersionKind())
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(stored), &again); err != nil || again.GetResourceVersion() != stored.GetResourceVersion() {
		t.Errorf("the stored release changed: %v (resourceVersion %s, was %s)", err, again.GetResourceVersion(), stored.GetResourceVersion())
	}
	breakGlass := rest.CopyConfig(env.Config)
	breakGlass.Impersonate = rest.ImpersonationConfig{UserName: "break-glass", Groups: []string{"system:masters", "system:authenticated"}}
	bg, err := client.New(breakGlass, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := bg.Update(ctx, edited.DeepCopy(), client.DryRunAll); err != nil {
		t.Errorf("break-glass user's dry-run update: %v", err)
	}
	if err := env.Client.Create(ctx, handRelease("default", "elsewhere"), client.DryRunAll); err != nil {
		t.Errorf("admin's dry-run create in another namespace: %v", err)
	}
}

// runAttestd runs attestd in this process as cmd/attestd does: the flags
// through config.ParseFlags, then attestd.Start until ctx is done. It returns
// the command's exit code (2 for bad flags, 1 for a failure).
func runAttestd(ctx context.Context, args []string, logs io.Writer) int {
	cfg, err := config.ParseFlags(args, logs)
	if err != nil {
		fmt.Fprintln(logs, err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	r, err := attestd.Start(ctx, cfg, log)
	if err != nil {
		log.Error("start failed", "err", err.Error())
		return 1
	}
	if err := r.Wait(ctx); err != nil {
		log.Error("stopped with an error", "err", err.Error())
		return 1
	}
	return 0
}

func admin(t *testing.T, base, token, path, body string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(token))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
	}
}

func waitReady(t *testing.T, url string, done chan int, logs *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case code := <-done:
			t.Fatalf("attestd exited %d:\n%s", code, logs.String())
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("attestd not ready in 60 s:\n%s", logs.String())
}

// writeKubeconfig writes a kubeconfig for c, impersonation included.
func writeKubeconfig(t *testing.T, dir string, c *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	kc.AuthInfos["sa"] = &clientcmdapi.AuthInfo{ClientCertificateData: c.CertData, ClientKeyData: c.KeyData, Token: c.BearerToken,
		Impersonate: c.Impersonate.UserName, ImpersonateGroups: c.Impersonate.Groups}
	kc.Contexts["sa"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "sa"}
	kc.CurrentContext = "sa"
	p := filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func decodeB64(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := io.Copy(&b, base64Decoder(s)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer safe for attestd's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
