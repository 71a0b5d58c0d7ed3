terraform {
  # Terraform >= 1.6 or OpenTofu >= 1.6.
  required_version = ">= 1.6"

  required_providers {
    azurerm = {
      source = "hashicorp/azurerm"
      # Pinned: test/terraform checks every attribute against this version's documented schema
      # (test/terraform/testdata/azurerm-schema.json).
      version = "4.81.0"
    }
  }
}
