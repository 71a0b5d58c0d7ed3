package controller

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	v1 "github.com/sgxops/sgxops/api/v1alpha1"
)

func TestNewOptionsZeroValue(t *testing.T) {
	opts := Options{}
	r := New(nil, nil, nil, opts)
	if r.opts.SgxopsImage != DefaultSgxopsImage || r.opts.Now == nil || r.opts.AttestdTimeout != 15*time.Second {
		t.Errorf("defaults: %+v", r.opts)
	}
	if opts.SgxopsImage != "" || opts.Now != nil {
		t.Error("New changed the caller's options")
	}
}

// The command lines below are contracts with the sgxops CLI (self-copy,
// measure, probe): keep them exact.
func TestBuildJobContract(t *testing.T) {
	r := New(nil, nil, nil, Options{})
	a := newApp("ns", "agg", "v3", "http://attestd:8080")
	j := r.buildJob(a, "v3")
	ps := j.Spec.Template.Spec
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Error("the build pod must have no API credentials")
	}
	b := ps.InitContainers[len(ps.InitContainers)-1]
	if b.Name != "build" || b.Env[0].Name != "SGXOPS_REVISION" || b.Env[0].Value != "v3" || b.VolumeMounts[0].MountPath != "/artifacts" {
		t.Errorf("build container: %+v", b)
	}
	m := ps.Containers[0]
	want := []string{"/sgxops", "measure", "--output", "json", "--termination-log", "/dev/termination-log", "/artifacts/aggregate.sgxs"}
	if m.Image != DefaultSgxopsImage || !slices.Equal(m.Command, want) || m.TerminationMessagePath != "/dev/termination-log" {
		t.Errorf("measure container: %v %v", m.Image, m.Command)
	}
	if ps.Volumes[0].EmptyDir == nil || artifactPVC(a, "v3") != nil {
		t.Errorf("artifact only measured: want an emptyDir and no claim: %+v", ps.Volumes[0])
	}
	a.Spec.Runtime.ArtifactMountPath = "/enclave" // the runtime mounts it: a claim per revision
	ps = r.buildJob(a, "v3").Spec.Template.Spec
	if ps.Volumes[0].PersistentVolumeClaim == nil || ps.Volumes[0].PersistentVolumeClaim.ClaimName != "agg-v3-artifacts" || artifactPVC(a, "v3") == nil {
		t.Errorf("artifact volume: %+v", ps.Volumes[0])
	}
	a.Spec.Runtime.ArtifactMountPath = ""

	// Without a build: the runtime image measures itself with the injected CLI.
	a.Spec.Build, a.Spec.Runtime.ArtifactPath = nil, "/app/enclave.signed.so"
	ps = r.buildJob(a, "v3").Spec.Template.Spec
	if c := ps.InitContainers[0]; !slices.Equal(c.Command, []string{"/sgxops", "self-copy", "/sgxops-tools/sgxops"}) || c.Image != DefaultSgxopsImage {
		t.Errorf("self-copy: %+v", c)
	}
	if c := ps.Containers[0]; c.Image != a.Spec.Runtime.Image || c.Command[0] != "/sgxops-tools/sgxops" || c.Command[len(c.Command)-1] != "/app/enclave.signed.so" {
		t.Errorf("measure from the runtime image: %+v", c)
	}
}

func TestRuntimePodContract(t *testing.T) {
	r := New(nil, nil, nil, Options{SgxopsImage: "sgxops.local/sgxops:9"})
	a := newApp("ns", "agg", "v2", "http://attestd:8080")
	a.Spec.Attestd.CABundle = &v1.ConfigMapKeySelector{Name: "ca"}
	a.Spec.Runtime.AESM = &v1.AESMSpec{}
	a.Spec.SGX = v1.SGXSpec{Platform: v1.PlatformAKS, EPC: ptr.To(resource.MustParse("64Mi"))}
	d := r.deployment(a, "aggregate", "v2")
	if *d.Spec.Replicas != 2 || d.Spec.Selector.MatchLabels[v1.LabelRevision] != "v2" {
		t.Errorf("deployment: %+v", d.Spec)
	}
	c := d.Spec.Template.Spec.Containers[0]
	want := []string{"/sgxops-tools/sgxops", "probe", "--service", "http://127.0.0.1:8080", "--attestd", "http://attestd:8080",
		"--app", "aggregate", "--release", "v2", "--state", "candidate,active,draining", "--allow-simulated", "--attestd-ca", "/sgxops-ca/ca.crt", "--timeout", "8s"}
	if c.ReadinessProbe == nil || !slices.Equal(c.ReadinessProbe.Exec.Command, want) {
		t.Errorf("readiness probe: %v", c.ReadinessProbe)
	}
	if c.Env[0].Name != "SGXOPS_REVISION" || c.Env[0].Value != "v2" {
		t.Errorf("env: %v", c.Env)
	}
	if q := c.Resources.Limits[v1.EPCResourceAKS]; q.Value() != 64 {
		t.Errorf("AKS EPC: %v", c.Resources.Limits)
	}
	mounts := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = true
	}
	for _, p := range []string{"/sgxops-sim", "/var/run/aesmd", "/sgxops-tools", "/sgxops-ca"} {
		if !mounts[p] {
			t.Errorf("no mount at %s: %v", p, c.VolumeMounts)
		}
	}
	if ic := d.Spec.Template.Spec.InitContainers[0]; ic.Image != "sgxops.local/sgxops:9" {
		t.Errorf("tools init: %+v", ic)
	}
	tj := r.testJob(a, "aggregate", "v2")
	tc := tj.Spec.Template.Spec.Containers[0]
	if !slices.Contains(tc.Command, "http://agg-v2.ns.svc:8080") || tc.Command[0] != "/sgxops" || tc.Command[1] != "probe" {
		t.Errorf("test Job: %v", tc.Command)
	}
	// Intel device plugin: EPC + enclave resources and the NFD label.
	a.Spec.SGX.Platform = v1.PlatformIntel
	ps := r.deployment(a, "aggregate", "v2").Spec.Template.Spec
	if ps.NodeSelector["intel.feature.node.kubernetes.io/sgx"] != "true" {
		t.Errorf("Intel placement: %v", ps.NodeSelector)
	}
	if _, ok := ps.Containers[0].Resources.Limits[corev1.ResourceName("sgx.intel.com/enclave")]; !ok {
		t.Errorf("Intel resources: %v", ps.Containers[0].Resources.Limits)
	}
	if s := service(a, "agg", "v2"); s.Spec.Selector[v1.LabelRevision] != "v2" || s.Spec.Selector[v1.LabelComponent] != "runtime" ||
		s.Labels[v1.LabelRevision] != "" || s.Spec.ClusterIP != "" {
		t.Errorf("stable service: %+v", s)
	}
	if s := service(a, "agg-v2", "v2"); s.Spec.ClusterIP != corev1.ClusterIPNone || s.Labels[v1.LabelRevision] != "v2" {
		t.Errorf("per-revision service: %+v", s)
	}
	if !strings.HasSuffix(secretName("agg", "v2"), "-v2-measurement") {
		t.Error(secretName("agg", "v2"))
	}
}

func TestSGXTolerations(t *testing.T) {
	a := &v1.EnclaveApp{}
	if got := sgxTolerations(a, nil); len(got) != 0 {
		t.Errorf("platform None got tolerations %v", got)
	}
	for _, p := range []v1.SGXPlatform{v1.PlatformAKS, v1.PlatformIntel} {
		a.Spec.SGX.Platform = p
		got := sgxTolerations(a, []corev1.Toleration{{Key: "other", Operator: corev1.TolerationOpExists}})
		if len(got) != 2 || got[1].Key != v1.TaintSGX || got[1].Effect != corev1.TaintEffectNoSchedule {
			t.Errorf("%s: %v", p, got)
		}
		own := []corev1.Toleration{{Key: v1.TaintSGX, Operator: corev1.TolerationOpEqual, Value: "true"}}
		if got := sgxTolerations(a, own); len(got) != 1 || got[0].Operator != corev1.TolerationOpEqual {
			t.Errorf("%s: the user's own toleration was changed: %v", p, got)
		}
	}
}

func TestRuntimeSelectorIsRuntimeOnly(t *testing.T) {
	a := &v1.EnclaveApp{}
	a.Name = "agg"
	for _, sel := range []map[string]string{service(a, "agg", "v2").Spec.Selector, runtimeSelector(a, "v2")} {
		if sel[v1.LabelComponent] != componentRuntime || sel[v1.LabelRevision] != "v2" {
			t.Errorf("selector %v also selects build/test pods", sel)
		}
	}
}
