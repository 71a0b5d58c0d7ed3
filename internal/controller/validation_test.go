package controller

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
)

// TestCRDValidation applies bad specs to the API server: each is refused at
// admission with a message naming the field (OpenAPI schema or CEL rule).
func TestCRDValidation(t *testing.T) {
	k8stestSkip(t)
	ns := namespace(t, nil)
	good := func() *v1.EnclaveApp { return newApp(ns, "val", "v1", "http://attestd.example:8080") }
	long := strings.Repeat("a", 40)
	for _, tc := range []struct {
		name  string
		edit  func(a *v1.EnclaveApp)
		field string // the message must contain this
	}{
		{"no revision", func(a *v1.EnclaveApp) { a.Spec.Revision = "" }, "spec.revision"},
		{"revision with capitals", func(a *v1.EnclaveApp) { a.Spec.Revision = "V2" }, "spec.revision"},
		{"revision with a dot", func(a *v1.EnclaveApp) { a.Spec.Revision = "v2.1" }, "spec.revision"},
		{"name and revision too long", func(a *v1.EnclaveApp) { a.Name = "val" + long[:10]; a.Spec.Revision = long }, "spec.revision"},
		{"app name invalid", func(a *v1.EnclaveApp) { a.Spec.App = "My_App" }, "spec.app"},
		{"attestd url not http", func(a *v1.EnclaveApp) { a.Spec.Attestd.URL = "ftp://attestd" }, "spec.attestd.url"},
		{"no admin token secret", func(a *v1.EnclaveApp) { a.Spec.Attestd.AdminTokenSecret.Name = "" }, "spec.attestd.adminTokenSecret.name"},
		{"simulation without allowSimulated", func(a *v1.EnclaveApp) { a.Spec.Attestd.AllowSimulated = false }, "spec.attestd.allowSimulated"},
		{"no build and no artifactPath", func(a *v1.EnclaveApp) { a.Spec.Build = nil }, "spec.runtime.artifactPath"},
		{"artifactMountPath without build", func(a *v1.EnclaveApp) {
			a.Spec.Build, a.Spec.Runtime.ArtifactPath, a.Spec.Runtime.ArtifactMountPath = nil, "/enclave.signed.so", "/artifacts"
		}, "spec.runtime.artifactMountPath"},
		{"build artifact outside /artifacts", func(a *v1.EnclaveApp) { a.Spec.Build.ArtifactPath = "/tmp/enclave.so" }, "spec.build.artifactPath"},
		{"builder image empty", func(a *v1.EnclaveApp) { a.Spec.Build.Image = "" }, "spec.build.image"},
		{"git and configMap source", func(a *v1.EnclaveApp) {
			a.Spec.Build.Source = &v1.SourceSpec{ConfigMap: "src", Git: &v1.GitSource{URL: "https://git.example/app.git", Ref: "main", Image: "git:1"}}
		}, "spec.build.source"},
		{"git url not a URL", func(a *v1.EnclaveApp) {
			a.Spec.Build.Source = &v1.SourceSpec{Git: &v1.GitSource{URL: "file:///etc", Ref: "main", Image: "git:1"}}
		}, "spec.build.source.git.url"},
		{"storage access mode", func(a *v1.EnclaveApp) { a.Spec.Build.Storage.AccessMode = "ReadOnlyMany" }, "spec.build.storage.accessMode"},
		{"runtime image empty", func(a *v1.EnclaveApp) { a.Spec.Runtime.Image = "" }, "spec.runtime.image"},
		{"port out of range", func(a *v1.EnclaveApp) { a.Spec.Runtime.Port = 70000 }, "spec.runtime.port"},
		{"replicas negative", func(a *v1.EnclaveApp) { a.Spec.Runtime.Replicas = -1 }, "spec.runtime.replicas"},
		{"unknown mode", func(a *v1.EnclaveApp) { a.Spec.Runtime.Mode = "DaemonSet" }, "spec.runtime.mode"},
		{"unknown platform", func(a *v1.EnclaveApp) { a.Spec.SGX.Platform = "GKE" }, "spec.sgx.platform"},
		{"unknown strategy", func(a *v1.EnclaveApp) { a.Spec.Rollout.Strategy = "Canary" }, "spec.rollout.strategy"},
		{"custom test without image", func(a *v1.EnclaveApp) { a.Spec.Rollout.Test = &v1.TestSpec{} }, "spec.rollout.test.image"},
		{"unknown deletion policy", func(a *v1.EnclaveApp) { a.Spec.DeletionPolicy = "Orphan" }, "spec.deletionPolicy"},
		{"simulation secret empty", func(a *v1.EnclaveApp) { a.Spec.Simulation.PlatformSecret = "" }, "spec.simulation.platformSecret"},
		{"aesm path relative", func(a *v1.EnclaveApp) { a.Spec.Runtime.AESM = &v1.AESMSpec{HostPath: "var/run/aesmd"} }, "spec.runtime.aesm.hostPath"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := good()
			tc.edit(a)
			err := env.Client.Create(context.Background(), a, client.DryRunAll)
			if err == nil {
				t.Fatalf("accepted")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("message does not name %s: %v", tc.field, err)
			}
		})
	}
	// The good spec (and one with every optional part) is accepted.
	full := good()
	full.Spec.SGX = v1.SGXSpec{Platform: v1.PlatformAKS, EPC: ptr.To(resource.MustParse("64Mi"))}
	full.Spec.Build.Storage = v1.StorageSpec{StorageClassName: ptr.To("managed-csi"), Size: ptr.To(resource.MustParse("2Gi"))}
	full.Spec.Runtime.AESM = &v1.AESMSpec{}
	full.Spec.Runtime.ArtifactMountPath = "/enclave"
	for _, a := range []*v1.EnclaveApp{good(), full} {
		if err := env.Client.Create(context.Background(), a, client.DryRunAll); err != nil {
			t.Errorf("valid spec refused: %v", err)
		}
	}
	// spec.app is immutable.
	a := good()
	a.Spec.App = "one"
	if err := env.Client.Create(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	a.Spec.App = "two"
	if err := env.Client.Update(context.Background(), a); err == nil || !strings.Contains(err.Error(), "spec.app") {
		t.Errorf("spec.app change: %v", err)
	}
	b := good()
	b.Name = "val2"
	if err := env.Client.Create(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	b.Spec.App = "later" // from the default (the name) to another app
	if err := env.Client.Update(context.Background(), b); err == nil || !strings.Contains(err.Error(), "spec.app") {
		t.Errorf("spec.app set after creation: %v", err)
	}
	b.Spec.App, b.Spec.Revision = "", "v2" // other changes still go through
	if err := env.Client.Update(context.Background(), b); err != nil {
		t.Errorf("revision change refused: %v", err)
	}
}
