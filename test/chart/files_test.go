package chart

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestChartManifestsMatchGenerated: the chart's CRDs and operator RBAC are
// the generated files (`make manifests` copies them), never hand edits.
func TestChartManifestsMatchGenerated(t *testing.T) {
	gen, _ := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	inChart, _ := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
	if len(gen) == 0 || len(gen) != len(inChart) {
		t.Fatalf("%d generated CRDs, %d in the chart: run make manifests", len(gen), len(inChart))
	}
	pairs := map[string]string{filepath.Join(root, "config", "rbac", "role.yaml"): filepath.Join(chartDir, "files", "operator-role.yaml")}
	for _, g := range gen {
		pairs[g] = filepath.Join(chartDir, "crds", filepath.Base(g))
	}
	for g, c := range pairs {
		a, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(c)
		if err != nil {
			t.Fatalf("%v: run make manifests", err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s: run make manifests", c, g)
		}
	}
}

// TestOperatorRBACReasons: every resource of the generated operator role is
// explained in the chart's RBAC template, and no rule uses a wildcard.
func TestOperatorRBACReasons(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role struct {
		Rules []struct {
			APIGroups []string `json:"apiGroups"`
			Resources []string `json:"resources"`
			Verbs     []string `json:"verbs"`
		} `json:"rules"`
	}
	if err := yaml.Unmarshal(b, &role); err != nil {
		t.Fatal(err)
	}
	tpl, err := os.ReadFile(filepath.Join(chartDir, "templates", "operator-rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range role.Rules {
		for _, res := range r.Resources {
			if !strings.Contains(string(tpl), "#   "+res+" (") && !strings.Contains(string(tpl), " "+res+" (") {
				t.Errorf("operator-rbac.yaml does not say why the operator needs %s", res)
			}
		}
		for _, v := range append(append(r.Verbs, r.Resources...), r.APIGroups...) {
			if v == "*" {
				t.Errorf("wildcard in rule %+v", r)
			}
		}
	}
}
