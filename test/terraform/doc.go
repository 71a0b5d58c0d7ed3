// Package terraform holds the CI checks of deploy/terraform (the AKS module and
// its example) that can run without Azure providers: HCL syntax and structure
// (hashicorp/hcl/v2), canonical formatting (hclwrite, and `tofu fmt -check`
// when OpenTofu is built by scripts/install-tools.sh tofu), and every azurerm
// resource argument, nested block and referenced attribute against the
// provider's documented schema at the pinned version (testdata/azurerm-schema.json).
// What this does not validate is listed in docs/limitations.md.
package terraform
