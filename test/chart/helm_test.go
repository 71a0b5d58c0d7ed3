package chart

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestHelmLint(t *testing.T) {
	for _, args := range [][]string{nil, {"-f", simValues}} {
		if out, err := helm(t, append([]string{"lint", "--strict", chartDir}, args...)...); err != nil {
			t.Errorf("helm lint %v: %v\n%s", args, err, out)
		}
	}
}

// The image references `make images` writes; the chart must use exactly these by default.
var wantImages = map[string]string{
	"attestd": "sgxops.local/attestd:0.1.0", "operator": "sgxops.local/operator:0.1.0", "sgxops": "sgxops.local/sgxops:0.1.0",
}

func TestHelmTemplate(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		replicas int64
		sim      bool
	}{
		{"default", nil, 2, false},
		{"simulation", []string{"-f", simValues}, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := render(t, "sgxops-system", tt.args...)
			att := find(objs, "Deployment", "sgxops-attestd")
			if att == nil {
				t.Fatal("no attestd Deployment")
			}
			if n, _, _ := unstructured.NestedInt64(att.Object, "spec", "replicas"); n != tt.replicas {
				t.Errorf("attestd replicas %d, want %d", n, tt.replicas)
			}
			args := strings.Join(containerArgs(t, att, "attestd"), " ")
			for _, f := range []string{"--store=kubernetes", "--store-namespace=sgxops-system", "--signing-key-secret=sgxops-attestd-signing-key",
				"--admin-token-file=/etc/attestd/admin/token", "--insecure-http", "--insecure-http-force", "--listen=:8080",
				"--issuer=http://sgxops-attestd.sgxops-system.svc:8080"} {
				if !strings.Contains(args, f) {
					t.Errorf("attestd args lack %s: %s", f, args)
				}
			}
			if got := strings.Contains(args, "--insecure-simulation-root="); got != tt.sim {
				t.Errorf("--insecure-simulation-root present = %v, want %v", got, tt.sim)
			}
			if got := find(objs, "Deployment", "sgxops-sim-pcs") != nil; got != tt.sim {
				t.Errorf("simulated PCS present = %v, want %v", got, tt.sim)
			}
			svc := find(objs, "Service", "sgxops-attestd")
			ports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
			if len(ports) != 1 || ports[0].(map[string]any)["port"] != int64(8080) {
				t.Errorf("Service sgxops-attestd ports %v, want 8080", ports)
			}
			for _, kind := range []string{"PodDisruptionBudget", "Role", "RoleBinding", "ServiceAccount"} {
				if find(objs, kind, "sgxops-attestd") == nil {
					t.Errorf("no %s sgxops-attestd", kind)
				}
			}
			if aff, _, _ := unstructured.NestedMap(att.Object, "spec", "template", "spec", "affinity", "podAntiAffinity"); len(aff) == 0 {
				t.Error("attestd has no pod anti-affinity")
			}
			sec := find(objs, "Secret", "sgxops-attestd-admin")
			if sec == nil || sec.GetAnnotations()["helm.sh/resource-policy"] != "keep" {
				t.Errorf("admin token Secret missing or not kept: %v", sec)
			}
			if find(objs, "Secret", "sgxops-attestd-signing-key") != nil {
				t.Error("the chart renders the signing-key Secret; attestd owns it")
			}
			checkPods(t, objs)
			checkRBAC(t, objs)
		})
	}
}

// checkPods: every container uses a default image exactly, IfNotPresent,
// and runs non-root (65532) with a read-only root and no privilege.
func checkPods(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	valid := map[string]bool{}
	for _, v := range wantImages {
		valid[v] = true
	}
	n := 0
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, c := range cs {
			m := c.(map[string]any)
			n++
			if !valid[fmt.Sprint(m["image"])] || m["imagePullPolicy"] != "IfNotPresent" {
				t.Errorf("%s: image %v %v", o.GetName(), m["image"], m["imagePullPolicy"])
			}
			sc, _ := m["securityContext"].(map[string]any)
			if sc["runAsUser"] != int64(65532) || sc["runAsNonRoot"] != true || sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false {
				t.Errorf("%s: securityContext %v", o.GetName(), sc)
			}
		}
	}
	if n == 0 {
		t.Error("no containers")
	}
	op := find(objs, "Deployment", "sgxops-operator")
	if op == nil {
		t.Fatal("no operator Deployment")
	}
	args := strings.Join(containerArgs(t, op, "operator"), " ")
	if !strings.Contains(args, "--leader-elect=true") || !strings.Contains(args, "--sgxops-image="+wantImages["sgxops"]) {
		t.Errorf("operator args %s", args)
	}
}

// checkRBAC: every rule names its verbs and resources, no wildcard.
func checkRBAC(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "Role" && o.GetKind() != "ClusterRole" {
			continue
		}
		rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
		if len(rules) == 0 {
			t.Errorf("%s %s has no rules", o.GetKind(), o.GetName())
		}
		for _, r := range rules {
			m := r.(map[string]any)
			for _, k := range []string{"verbs", "resources", "apiGroups"} {
				l, _ := m[k].([]any)
				if len(l) == 0 {
					t.Errorf("%s %s: rule without %s: %v", o.GetKind(), o.GetName(), k, m)
				}
				for _, v := range l {
					if v == "*" {
						t.Errorf("%s %s: wildcard %s: %v", o.GetKind(), o.GetName(), k, m)
					}
				}
			}
		}
	}
}

func containerArgs(t *testing.T, d *unstructured.Unstructured, name string) []string {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	for _, c := range cs {
		m := c.(map[string]any)
		if m["name"] == name {
			var out []string
			for _, a := range m["args"].([]any) {
				out = append(out, fmt.Sprint(a))
			}
			return out
		}
	}
	t.Fatalf("%s: no container %s", d.GetName(), name)
	return nil
}

// TestHelmTemplateOptions: the collateral sources, TLS, Ingress and a watch
// namespace render the flags and objects they promise.
func TestHelmTemplateOptions(t *testing.T) {
	tests := []struct {
		name  string
		set   []string
		args  []string
		kinds []string
	}{
		{"pcs api key", []string{"collateral.pcs.apiKeySecret.name=intel-pcs"}, []string{"--pcs-api-key-file=/etc/attestd/pcs-api-key/api-key"}, nil},
		{"pccs", []string{"collateral.source=pccs", "collateral.pccs.url=https://pccs.example:8081", "collateral.pccs.insecureSkipVerify=true"},
			[]string{"--pccs=https://pccs.example:8081", "--insecure-pccs-tls"}, nil},
		{"thim", []string{"collateral.source=thim", "collateral.thim.url=http://169.254.169.254/metadata/THIM/sgx/certification/v4"},
			[]string{"--thim=http://169.254.169.254/metadata/THIM/sgx/certification/v4"}, nil},
		{"tls", []string{"attestd.tls.secretName=attestd-tls"}, []string{"--tls-cert=/etc/attestd/tls/tls.crt", "--issuer=https://sgxops-attestd.ns1.svc:8080"}, nil},
		{"ingress", []string{"attestd.ingress.enabled=true", "attestd.ingress.host=attestd.example", "attestd.issuer=https://attestd.example"},
			[]string{"--issuer=https://attestd.example"}, []string{"Ingress"}},
		{"watch namespace", []string{"operator.watchNamespace=apps"}, nil, []string{"RoleBinding"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a []string
			for _, s := range tt.set {
				a = append(a, "--set", s)
			}
			objs := render(t, "ns1", a...)
			args := strings.Join(containerArgs(t, find(objs, "Deployment", "sgxops-attestd"), "attestd"), " ")
			for _, f := range tt.args {
				if !strings.Contains(args, f) {
					t.Errorf("attestd args lack %s: %s", f, args)
				}
			}
			for _, k := range tt.kinds {
				found := false
				for _, o := range objs {
					found = found || o.GetKind() == k
				}
				if !found {
					t.Errorf("no %s rendered", k)
				}
			}
		})
	}
}

// TestValuesSchemaRefuses: bad values fail with a message naming the value.
// TestTrustSetPolicyRender: the trust-set admission policy is rendered by
// default, bound to the store namespace and admitting attestd's
// ServiceAccount of the release namespace (plus exemptUsers); with
// protectObjects false it is absent. TestAttestdWithChartRBAC shows a real
// API server enforcing it.
func TestTrustSetPolicyRender(t *testing.T) {
	objs := render(t, "rel", "--set", "attestd.store.namespace=trust", "--set", "attestd.store.exemptUsers[0]=ops-admin")
	pol := find(objs, "ValidatingAdmissionPolicy", trustSetPolicyName("trust"))
	bind := find(objs, "ValidatingAdmissionPolicyBinding", trustSetPolicyName("trust"))
	if pol == nil || bind == nil {
		t.Fatalf("policy %v, binding %v rendered", pol != nil, bind != nil)
	}
	vars, _, _ := unstructured.NestedSlice(pol.Object, "spec", "variables")
	writers := vars[0].(map[string]any)["expression"].(string)
	for _, w := range []string{`"system:serviceaccount:rel:sgxops-attestd"`, `"ops-admin"`, `"system:serviceaccount:kube-system:namespace-controller"`} {
		if !strings.Contains(writers, w) {
			t.Errorf("writers %s lack %s", writers, w)
		}
	}
	if ns, _, _ := unstructured.NestedString(bind.Object, "spec", "matchResources", "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name"); ns != "trust" {
		t.Errorf("binding selects namespace %q, want the store namespace", ns)
	}
	for _, o := range render(t, "rel", "--set", "attestd.store.protectObjects=false") {
		if strings.HasPrefix(o.GetKind(), "ValidatingAdmissionPolicy") {
			t.Errorf("protectObjects=false still renders %s %s", o.GetKind(), o.GetName())
		}
	}
}

func TestValuesSchemaRefuses(t *testing.T) {
	tests := []struct {
		set  string
		want string
	}{
		{"attestd.replicas=0", "/attestd/replicas"},
		{"attestd.replicas=two", "/attestd/replicas"},
		{"attestd.port=70000", "/attestd/port"},
		{"attestd.typo=1", "additional properties 'typo' not allowed"},
		{"attestd.issuer=attestd.example", "/attestd/issuer"},
		{"attestd.signingKeySecret=Bad_Name", "/attestd/signingKeySecret"},
		{"attestd.antiAffinity=maybe", "/attestd/antiAffinity"},
		{"attestd.logLevel=loud", "/attestd/logLevel"},
		{"attestd.extraArgs[0]=x", "/attestd/extraArgs/0"},
		{"attestd.podDisruptionBudget.maxUnavailable=0", "/attestd/podDisruptionBudget/maxUnavailable"},
		{"attestd.ingress.enabled=true", "/attestd/ingress/host"},
		{"attestd.store.protectObjects=maybe", "/attestd/store/protectObjects"},
		{`attestd.store.exemptUsers[0]=o'brien`, "/attestd/store/exemptUsers/0"},
		{"images.pullPolicy=Sometimes", "/images/pullPolicy"},
		{"images.tag=bad tag", "/images/tag"},
		{"collateral.source=azure", "/collateral/source"},
		{"collateral.source=pccs", "/collateral/pccs/url"},
		{"collateral.source=thim", "/collateral/thim/url"},
		{"collateral.pcs.url=ftp://pcs", "/collateral/pcs/url"},
		{"operator.replicas=2,operator.leaderElect=false", "/operator/leaderElect"},
		{"insecureSimulation.enabled=yes", "/insecureSimulation/enabled"},
		{"insecureSimulation.enabled=true", `set collateral.source to "simulated"`},
		{"collateral.source=simulated", "needs insecureSimulation.enabled: true"},
		{"attestd.serviceMonitor.enabled=true", "Prometheus Operator"},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			_, err := helm(t, "template", "sgxops", chartDir, "--set", tt.set)
			if err == nil {
				t.Fatalf("--set %s rendered", tt.set)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("--set %s: error does not say %q:\n%v", tt.set, tt.want, err)
			}
		})
	}
}

// TestNotes: NOTES.txt renders and says what to do next; simulation says so loudly.
func TestNotes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
		not  []string
	}{
		{"default", nil, []string{"http://sgxops-attestd.sgxops-system.svc:8080", "rollout status", "sgxops-attestd-admin", "Collateral: Intel PCS"}, []string{"INSECURE"}},
		{"simulation", []string{"-f", simValues}, []string{"INSECURE SIMULATION MODE", "sgxops sim init --output secret-yaml --secret-name sgxops-sim --namespace sgxops-system",
			"allowSimulated: true", "SIMULATED PCS"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := helm(t, append([]string{"install", "sgxops", chartDir, "-n", "sgxops-system", "--dry-run=client"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			_, notes, ok := strings.Cut(out, "NOTES:")
			if !ok {
				t.Fatalf("no NOTES:\n%s", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(notes, w) {
					t.Errorf("NOTES lack %q:\n%s", w, notes)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(notes, w) {
					t.Errorf("NOTES say %q:\n%s", w, notes)
				}
			}
		})
	}
}
