package terraform

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"sigs.k8s.io/yaml"

	"github.com/sgxops/sgxops/internal/k8stest"
)

// TestFormat: every .tf file is in canonical HCL format (what `tofu fmt` writes
// for these files).
func TestFormat(t *testing.T) {
	for _, m := range modules {
		for _, f := range tfFiles(t, m) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if got := hclwrite.Format(b); !bytes.Equal(got, b) {
				t.Errorf("%s is not formatted (run tofu fmt or terraform fmt)", f)
			}
		}
	}
}

// tofuBin returns OpenTofu, or skips (fails with SGXOPS_REQUIRE_K8S=1, like helm in test/chart).
func tofuBin(t *testing.T) string {
	t.Helper()
	return k8stest.Tool(t, "tofu", "TOFU", "builds OpenTofu once, ~7 min cold")
}

// TestTofuFmt: `tofu fmt -check` agrees (no provider needed).
func TestTofuFmt(t *testing.T) {
	cmd := exec.Command(tofuBin(t), "fmt", "-check", "-diff", "-recursive", tfRoot)
	cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+filepath.Join(t.TempDir(), "none.tfrc"), "CHECKPOINT_DISABLE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tofu fmt -check: %v\n%s", err, out)
	}
}

// TestStructure: the modules parse, pin their providers, document and type
// their variables and outputs, and the module's resources are the promised ones.
func TestStructure(t *testing.T) {
	for _, m := range modules {
		t.Run(m, func(t *testing.T) {
			for f, body := range parseModule(t, m) {
				for _, b := range body.Blocks {
					switch b.Type {
					case "variable":
						if _, ok := b.Body.Attributes["description"]; !ok {
							t.Errorf("%s: variable %s has no description", f, b.Labels[0])
						}
						if _, ok := b.Body.Attributes["type"]; !ok {
							t.Errorf("%s: variable %s has no type", f, b.Labels[0])
						}
					case "output":
						if _, ok := b.Body.Attributes["description"]; !ok {
							t.Errorf("%s: output %s has no description", f, b.Labels[0])
						}
					}
				}
			}
		})
	}
	resources := map[string]bool{}
	outputs := map[string]bool{}
	for _, body := range parseModule(t, "aks") {
		for _, b := range body.Blocks {
			switch b.Type {
			case "resource":
				resources[b.Labels[0]] = true
			case "output":
				outputs[b.Labels[0]] = true
			}
		}
	}
	for _, r := range []string{"azurerm_resource_group", "azurerm_kubernetes_cluster", "azurerm_kubernetes_cluster_node_pool", "azurerm_public_ip"} {
		if !resources[r] {
			t.Errorf("module aks has no %s", r)
		}
	}
	for _, o := range []string{"kubeconfig_command", "cluster_name", "attestd_url", "attestd_chart_values"} {
		if !outputs[o] {
			t.Errorf("module aks has no output %s", o)
		}
	}
}

// requiredProviderVersion returns the version constraint of provider in module's terraform block.
func requiredProviderVersion(t *testing.T, module, provider string) string {
	t.Helper()
	for _, body := range parseModule(t, module) {
		for _, b := range body.Blocks {
			if b.Type != "terraform" {
				continue
			}
			for _, rp := range b.Body.Blocks {
				if rp.Type != "required_providers" {
					continue
				}
				a, ok := rp.Body.Attributes[provider]
				if !ok {
					continue
				}
				v, diags := a.Expr.Value(nil)
				if diags.HasErrors() {
					t.Fatalf("%s: required_providers.%s: %s", module, provider, diags.Error())
				}
				if !v.Type().IsObjectType() || !v.Type().HasAttribute("version") {
					t.Fatalf("%s: required_providers.%s has no version", module, provider)
				}
				return v.GetAttr("version").AsString()
			}
		}
	}
	t.Fatalf("%s: no required_providers.%s", module, provider)
	return ""
}

// variableDefault evaluates the default of variable name in module.
func variableDefault(t *testing.T, module, name string) cty.Value {
	t.Helper()
	for _, body := range parseModule(t, module) {
		for _, b := range body.Blocks {
			if b.Type == "variable" && b.Labels[0] == name {
				v, diags := b.Body.Attributes["default"].Expr.Value(&hcl.EvalContext{})
				if diags.HasErrors() {
					t.Fatal(diags.Error())
				}
				return v
			}
		}
	}
	t.Fatalf("%s: no variable %s", module, name)
	return cty.NilVal
}

// TestTaintTolerated: the SGX pool's default taint is one the chart's doctor
// DaemonSet tolerates by default (the operator's EnclaveApps add it in their spec).
func TestTaintTolerated(t *testing.T) {
	taints := variableDefault(t, "aks", "sgx_node_taints")
	if taints.LengthInt() != 1 {
		t.Fatalf("default taints %v", taints.GoString())
	}
	taint := taints.Index(cty.NumberIntVal(0)).AsString() // KEY=VALUE:EFFECT
	kv, effect, _ := strings.Cut(taint, ":")
	key, _, _ := strings.Cut(kv, "=")
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "helm", "sgxops", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Doctor struct {
			Tolerations []struct{ Key, Operator, Effect string }
		}
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	for _, tol := range values.Doctor.Tolerations {
		if tol.Key == key && tol.Operator == "Exists" && tol.Effect == effect {
			return
		}
	}
	t.Errorf("the chart's doctor.tolerations %v do not tolerate the SGX pool's taint %s", values.Doctor.Tolerations, taint)
}

// TestModuleCall: the example passes only variables the aks module declares,
// every required one (no default), and reads only outputs it declares.
func TestModuleCall(t *testing.T) {
	vars, required, outputs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, body := range parseModule(t, "aks") {
		for _, b := range body.Blocks {
			switch b.Type {
			case "variable":
				vars[b.Labels[0]] = true
				if _, ok := b.Body.Attributes["default"]; !ok {
					required[b.Labels[0]] = true
				}
			case "output":
				outputs[b.Labels[0]] = true
			}
		}
	}
	meta := map[string]bool{"source": true, "version": true, "providers": true, "count": true, "for_each": true, "depends_on": true}
	calls := 0
	for f, body := range parseModule(t, filepath.Join("examples", "aks-sgxops")) {
		for _, b := range body.Blocks {
			if b.Type == "module" && b.Labels[0] == "aks" {
				calls++
				for name := range b.Body.Attributes {
					if !meta[name] && !vars[name] {
						t.Errorf("%s: module aks has no variable %s", f, name)
					}
				}
				for name := range required {
					if _, ok := b.Body.Attributes[name]; !ok {
						t.Errorf("%s: module aks needs %s", f, name)
					}
				}
			}
		}
		_ = hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			e, ok := n.(*hclsyntax.ScopeTraversalExpr)
			if !ok || e.Traversal.RootName() != "module" || len(e.Traversal) < 3 {
				return nil
			}
			if a, ok := e.Traversal[1].(hcl.TraverseAttr); !ok || a.Name != "aks" {
				return nil
			}
			if out, ok := e.Traversal[2].(hcl.TraverseAttr); ok && !outputs[out.Name] {
				t.Errorf("%s: module aks has no output %s", e.SrcRange, out.Name)
			}
			return nil
		})
	}
	if calls != 1 {
		t.Errorf("%d calls of module aks, want 1", calls)
	}
}
