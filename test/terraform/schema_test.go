package terraform

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// metaArguments are Terraform's own, valid in every resource.
var metaArguments = []string{"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection"}

// uncheckedTypes are resource types used without a schema here (listed in
// docs/limitations.md): the helm provider's docs are not part of the data.
var uncheckedTypes = map[string]bool{"helm_release": true}

// checkResources returns one message per argument, block or reference of an
// azurerm resource that the schema does not document, and per resource type
// that is neither in the schema nor unchecked.
func checkResources(s *schema, bodies map[string]*hclsyntax.Body) []string {
	var errs []string
	for _, body := range bodies {
		for _, b := range body.Blocks {
			if b.Type != "resource" || len(b.Labels) != 2 {
				continue
			}
			typ := b.Labels[0]
			rs, ok := s.Resources[typ]
			if !ok {
				if !uncheckedTypes[typ] {
					errs = append(errs, fmt.Sprintf("%s: resource type %s is not in the schema data", rangeOf(b.DefRange()), typ))
				}
				continue
			}
			errs = append(errs, checkBody(rs, typ, b.Body, rs.Arguments)...)
		}
	}
	for _, body := range bodies {
		errs = append(errs, checkReferences(s, body)...)
	}
	return errs
}

// checkBody checks the attributes and blocks of one (nested) body against allowed.
func checkBody(rs resourceSchema, path string, body *hclsyntax.Body, allowed []string) []string {
	var errs []string
	for name, a := range body.Attributes {
		if !has(allowed, name) && !(path == strings.Split(path, ".")[0] && has(metaArguments, name)) {
			errs = append(errs, fmt.Sprintf("%s: %s.%s is not a documented argument", rangeOf(a.NameRange), path, name))
		}
	}
	for _, b := range body.Blocks {
		name := b.Type
		inner := b.Body
		if name == "dynamic" && len(b.Labels) == 1 {
			name = b.Labels[0]
			for _, c := range b.Body.Blocks {
				if c.Type == "content" {
					inner = c.Body
				}
			}
		}
		if name == "lifecycle" && path == strings.Split(path, ".")[0] {
			continue
		}
		keys, isBlock := rs.Blocks[name]
		if !has(allowed, name) || !isBlock {
			errs = append(errs, fmt.Sprintf("%s: %s.%s is not a documented block", rangeOf(b.TypeRange), path, name))
			continue
		}
		errs = append(errs, checkBody(rs, path+"."+name, inner, keys)...)
	}
	return errs
}

// checkReferences checks every TYPE.NAME.ATTR[...].NESTED reference to an
// azurerm resource: ATTR must be a documented argument, attribute or block,
// NESTED a key of block ATTR.
func checkReferences(s *schema, body *hclsyntax.Body) []string {
	var errs []string
	_ = hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		e, ok := n.(*hclsyntax.ScopeTraversalExpr)
		if !ok {
			return nil
		}
		tr := e.Traversal
		rs, ok := s.Resources[tr.RootName()]
		if !ok || len(tr) < 3 {
			return nil
		}
		var names []string
		for _, step := range tr[2:] {
			if a, ok := step.(hcl.TraverseAttr); ok {
				names = append(names, a.Name)
			}
		}
		if len(names) == 0 {
			return nil
		}
		attr := names[0]
		if !has(rs.Arguments, attr) && !has(rs.Attributes, attr) {
			if _, isBlock := rs.Blocks[attr]; !isBlock {
				errs = append(errs, fmt.Sprintf("%s: %s has no documented attribute %q", rangeOf(e.SrcRange), tr.RootName(), attr))
				return nil
			}
		}
		if len(names) > 1 {
			if keys, isBlock := rs.Blocks[attr]; !isBlock || !has(keys, names[1]) {
				errs = append(errs, fmt.Sprintf("%s: %s.%s has no documented key %q", rangeOf(e.SrcRange), tr.RootName(), attr, names[1]))
			}
		}
		return nil
	})
	return errs
}

// TestSchema: every azurerm argument, block and reference in the modules is in
// the provider's documented schema at the pinned version.
func TestSchema(t *testing.T) {
	s := loadSchema(t)
	for _, m := range modules {
		t.Run(m, func(t *testing.T) {
			for _, e := range checkResources(s, parseModule(t, m)) {
				t.Error(e)
			}
		})
	}
}

// TestSchemaCheckerRefuses: the checker finds a misspelt argument, an unknown
// nested key, a bad reference and an unknown resource type.
func TestSchemaCheckerRefuses(t *testing.T) {
	s := loadSchema(t)
	src := `
resource "azurerm_kubernetes_cluster" "x" {
  name = "a"
  enable_sgx = true
  confidential_computing {
    sgx_quote_helper = true
  }
  default_node_pool {
    name = "p"
    dynamic "upgrade_settings" {
      for_each = [1]
      content { max_surge_typo = "10%" }
    }
  }
  lifecycle { ignore_changes = [tags] }
  count = 1
}
resource "azurerm_kubernetes_cluster_node_pool" "y" {
  kubernetes_cluster_id = azurerm_kubernetes_cluster.x[0].cluster_id
  vm_size = azurerm_kubernetes_cluster.x[0].kube_config[0].server
  node_labels = { a = azurerm_kubernetes_cluster.x[0].kube_config[0].host }
}
resource "azurerm_confidential_ledger" "z" {}
`
	f, diags := hclparse.NewParser().ParseHCL([]byte(src), "bad.tf")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	errs := checkResources(s, map[string]*hclsyntax.Body{"bad.tf": f.Body.(*hclsyntax.Body)})
	want := []string{"enable_sgx", "confidential_computing.sgx_quote_helper", "upgrade_settings.max_surge_typo",
		`attribute "cluster_id"`, `key "server"`, "azurerm_confidential_ledger"}
	all := strings.Join(errs, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("checker missed %s:\n%s", w, all)
		}
	}
	if len(errs) != len(want) {
		t.Errorf("got %d findings, want %d:\n%s", len(errs), len(want), all)
	}
}

// TestSchemaData: the data is for the version the modules pin, and names its source.
func TestSchemaData(t *testing.T) {
	s := loadSchema(t)
	if s.Provider != "hashicorp/azurerm" || len(s.Commit) != 40 {
		t.Fatalf("schema data header %q %q", s.Provider, s.Commit)
	}
	for typ, rs := range s.Resources {
		if !strings.Contains(rs.Source, "/blob/v"+s.Version+"/website/docs/r/") || len(rs.Arguments) == 0 {
			t.Errorf("%s: source %q, %d arguments", typ, rs.Source, len(rs.Arguments))
		}
	}
	for _, m := range modules {
		v := requiredProviderVersion(t, m, "azurerm")
		if v != s.Version {
			t.Errorf("%s pins azurerm %q, schema data is for %q", m, v, s.Version)
		}
	}
	if !has(s.Resources["azurerm_kubernetes_cluster"].Blocks["confidential_computing"], "sgx_quote_helper_enabled") {
		t.Error("schema data lacks confidential_computing.sgx_quote_helper_enabled")
	}
}
