package chart

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestDoctorDaemonSet: off by default; when enabled, every host path is
// mounted read-only under /host, the container is the restricted non-root
// one, and it tolerates the SGX node pool's taint of deploy/terraform/aks.
func TestDoctorDaemonSet(t *testing.T) {
	if find(render(t, "ns1"), "DaemonSet", "sgxops-doctor") != nil {
		t.Fatal("doctor DaemonSet rendered by default")
	}
	objs := render(t, "ns1", "--set", "doctor.enabled=true", "--set", "doctor.fmspc=00906ed50000", "--set", "doctor.args={--thim=https://thim.example}")
	ds := find(objs, "DaemonSet", "sgxops-doctor")
	if ds == nil {
		t.Fatal("no doctor DaemonSet")
	}
	spec, _, _ := unstructured.NestedMap(ds.Object, "spec", "template", "spec")
	if spec["automountServiceAccountToken"] != false {
		t.Error("doctor pods mount a service account token")
	}
	cs, _, _ := unstructured.NestedSlice(spec, "containers")
	if len(cs) != 1 {
		t.Fatalf("containers %v", cs)
	}
	c := cs[0].(map[string]any)
	if c["image"] != wantImages["sgxops"] {
		t.Errorf("image %v", c["image"])
	}
	args := strings.Join(containerArgs(t, ds, "doctor"), " ")
	for _, f := range []string{"doctor", "--root=/host", "--every=10m", "--fmspc=00906ed50000", "--thim=https://thim.example"} {
		if !strings.Contains(args, f) {
			t.Errorf("args lack %s: %s", f, args)
		}
	}
	sc, _ := c["securityContext"].(map[string]any)
	if sc["runAsNonRoot"] != true || sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false || sc["privileged"] == true {
		t.Errorf("securityContext %v", sc)
	}
	mounts, _ := c["volumeMounts"].([]any)
	vols, _, _ := unstructured.NestedSlice(spec, "volumes")
	if len(mounts) == 0 || len(mounts) != len(vols) {
		t.Fatalf("%d mounts, %d volumes", len(mounts), len(vols))
	}
	hostPaths := map[string]string{}
	for _, v := range vols {
		vm := v.(map[string]any)
		hp, ok := vm["hostPath"].(map[string]any)
		if !ok {
			t.Errorf("volume %v is not a hostPath", vm["name"])
			continue
		}
		if typ := hp["type"]; typ == "DirectoryOrCreate" || typ == "FileOrCreate" {
			t.Errorf("hostPath %v would create %v on the node", hp["path"], typ)
		}
		hostPaths[vm["name"].(string)] = hp["path"].(string)
	}
	for _, m := range mounts {
		mm := m.(map[string]any)
		if mm["readOnly"] != true {
			t.Errorf("mount %v is writable", mm["mountPath"])
		}
		if want := "/host" + hostPaths[mm["name"].(string)]; mm["mountPath"] != want {
			t.Errorf("mount %v, want %s", mm["mountPath"], want)
		}
	}
	for _, p := range []string{"/proc/cpuinfo", "/dev", "/sys", "/etc", "/var/run", "/usr/lib"} {
		found := false
		for _, hp := range hostPaths {
			found = found || hp == p
		}
		if !found {
			t.Errorf("no hostPath %s", p)
		}
	}
	tol, _, _ := unstructured.NestedSlice(spec, "tolerations")
	if len(tol) != 1 || tol[0].(map[string]any)["key"] != "sgxops.io/sgx" {
		t.Errorf("tolerations %v, want the sgxops.io/sgx taint", tol)
	}
}

func TestAttestdServiceAnnotations(t *testing.T) {
	objs := render(t, "ns1", "--set", "attestd.service.type=LoadBalancer", "--set", `attestd.service.annotations.service\.beta\.kubernetes\.io/azure-pip-name=sgxops-attestd`)
	svc := find(objs, "Service", "sgxops-attestd")
	if svc.GetAnnotations()["service.beta.kubernetes.io/azure-pip-name"] != "sgxops-attestd" {
		t.Errorf("annotations %v", svc.GetAnnotations())
	}
}

func TestDoctorValuesSchemaRefuses(t *testing.T) {
	for set, want := range map[string]string{
		"doctor.fmspc=123":                           "/doctor/fmspc",
		"doctor.every=often":                         "/doctor/every",
		"doctor.hostPaths[0].path=relative":          "/doctor/hostPaths/0/path",
		"doctor.hostPaths[0].type=DirectoryOrCreate": "/doctor/hostPaths/0/type",
		"doctor.privileged=true":                     "additional properties 'privileged' not allowed",
	} {
		_, err := helm(t, "template", "sgxops", chartDir, "--set", set)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--set %s: err %v, want %q", set, err, want)
		}
	}
}
