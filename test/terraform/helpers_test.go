package terraform

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/sgxops/sgxops/internal/k8stest"
)

var (
	repoRoot = k8stest.RepoRoot()
	tfRoot   = filepath.Join(repoRoot, "deploy", "terraform")
	// modules are the shipped Terraform modules (directories of .tf files).
	modules = []string{"aks", filepath.Join("examples", "aks-sgxops")}
)

// tfFiles returns the .tf files of a module directory (relative to tfRoot), sorted.
func tfFiles(t *testing.T, module string) []string {
	t.Helper()
	fs, err := filepath.Glob(filepath.Join(tfRoot, module, "*.tf"))
	if err != nil || len(fs) == 0 {
		t.Fatalf("no .tf files in %s (%v)", module, err)
	}
	sort.Strings(fs)
	return fs
}

// parseModule parses every .tf file of module and returns their bodies.
func parseModule(t *testing.T, module string) map[string]*hclsyntax.Body {
	t.Helper()
	p := hclparse.NewParser()
	out := map[string]*hclsyntax.Body{}
	for _, f := range tfFiles(t, module) {
		file, diags := p.ParseHCLFile(f)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", f, diags.Error())
		}
		out[f] = file.Body.(*hclsyntax.Body)
	}
	return out
}

// schema is testdata/azurerm-schema.json: names from the provider's docs.
type schema struct {
	Provider  string                    `json:"provider"`
	Version   string                    `json:"version"`
	Commit    string                    `json:"commit"`
	Resources map[string]resourceSchema `json:"resources"`
}

type resourceSchema struct {
	Source     string              `json:"source"`
	Arguments  []string            `json:"arguments"`
	Attributes []string            `json:"attributes"`
	Blocks     map[string][]string `json:"blocks"`
}

func loadSchema(t *testing.T) *schema {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "azurerm-schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s schema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func has(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func rangeOf(r hcl.Range) string { return r.String() }
