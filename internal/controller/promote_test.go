package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
	"github.com/sgxops/sgxops/internal/cli"
	"github.com/sgxops/sgxops/release"
)

// kubeconfig writes a kubeconfig file for the test API server.
func kubeconfig(t *testing.T) string {
	t.Helper()
	c := env.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: c.CertData, ClientKeyData: c.KeyData, Token: c.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin", Namespace: "default"}
	kc.CurrentContext = "envtest"
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func sgxops(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestManualPromotionCLI: with autoPromote false a verified candidate waits;
// `sgxops rollout promote` promotes it, `sgxops rollout status` shows it, and
// `sgxops rollout abort` aborts the next one.
func TestManualPromotionCLI(t *testing.T) {
	k8stestSkip(t)
	att := startAttestd(t)
	ns := namespace(t, att)
	k := startKubelet(t, ns)
	startManager(t, ns, nil, Options{})
	kc := kubeconfig(t)
	app := newApp(ns, "manual", "v1", att.URL)
	app.Spec.Rollout.AutoPromote = ptr.To(false)
	if err := env.Client.Create(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	base := []string{"--kubeconfig", kc, "-n", ns}

	// Not verified yet: promote refuses.
	k.set(func(k *fakeKubelet) { k.hold["v1"] = true })
	waitPhase(t, ns, "manual", "v1", v1.PhaseTesting, waitLong)
	if code, _, stderr := sgxops(t, append([]string{"rollout", "promote", "manual"}, base...)...); code != cli.ExitInvalidInput || !strings.Contains(stderr, "not passed its attestation test") {
		t.Fatalf("promote before the test: exit %d: %s", code, stderr)
	}
	k.set(func(k *fakeKubelet) { k.hold["v1"] = false })
	eventually(t, waitLong, "AwaitingPromotion", func() (bool, string) {
		a := getApp(t, ns, "manual")
		return condition(a, v1.ConditionPromoted).Reason == "AwaitingPromotion", summary(a)
	})
	if v := att.release(t, "manual", "v1"); v.State != release.Candidate {
		t.Fatalf("promoted without being asked: %s", v.State)
	}
	code, out, stderr := sgxops(t, append([]string{"rollout", "promote", "manual", "--wait", "30s"}, base...)...)
	if code != 0 || !strings.Contains(out, "v1 is active") {
		t.Fatalf("promote: exit %d: %s %s", code, out, stderr)
	}
	if v := att.release(t, "manual", "v1"); v.State != release.Active {
		t.Errorf("attestd v1: %s", v.State)
	}

	code, out, stderr = sgxops(t, append([]string{"rollout", "status", "manual", "-o", "json"}, base...)...)
	var st struct {
		Status v1.EnclaveAppStatus `json:"status"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st.Status.ActiveRevision != "v1" {
		t.Fatalf("status: exit %d: %s %s", code, out, stderr)
	}
	if code, out, _ = sgxops(t, append([]string{"rollout", "status", "manual"}, base...)...); code != 0 || !strings.Contains(out, "active: v1") {
		t.Errorf("status text: %d %s", code, out)
	}

	// v2: abort it by hand while it waits for promotion.
	setRevision(t, ns, "manual", "v2")
	eventually(t, waitLong, "v2 awaiting promotion", func() (bool, string) {
		a := getApp(t, ns, "manual")
		return a.Status.CandidateRevision == "v2" && condition(a, v1.ConditionPromoted).Reason == "AwaitingPromotion", summary(a)
	})
	code, out, stderr = sgxops(t, append([]string{"rollout", "abort", "manual", "--wait", "30s", "-o", "json"}, base...)...)
	var res struct {
		Revision, Action string
		Done             bool
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Revision != "v2" || res.Action != "abort" || !res.Done {
		t.Fatalf("abort: exit %d: %s %s", code, out, stderr)
	}
	a := getApp(t, ns, "manual")
	if a.Status.ActiveRevision != "v1" || revStatus(a, "v2").Phase != v1.PhaseFailed {
		t.Errorf("after abort: %s", summary(a))
	}
	if v := att.release(t, "manual", "v2"); v.State != release.Revoked {
		t.Errorf("attestd v2 after abort: %s", v.State)
	}
	if c := condition(a, v1.ConditionReady); c.Status != metav1.ConditionTrue {
		t.Errorf("Ready: %+v", c)
	}
}
