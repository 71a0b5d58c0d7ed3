locals {
  resource_group_name = coalesce(var.resource_group_name, "${var.name}-rg")
  sgx_node_labels     = merge(var.sgx_node_labels, { "sgxops.io/sgx" = "true" })
  attestd_dns_label   = coalesce(var.attestd_dns_label, "${var.name}-attestd")
}

resource "azurerm_resource_group" "this" {
  name     = local.resource_group_name
  location = var.location
  tags     = var.tags
}

# AKS with the confidential-computing add-on (confcom): the SGX device plugin (EPC as the
# kubernetes.azure.com/sgx_epc_mem_in_MiB resource) and, when enabled, the SGX quote helper.
resource "azurerm_kubernetes_cluster" "this" {
  name                = var.name
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_resource_group.this.name
  dns_prefix          = var.name
  kubernetes_version  = var.kubernetes_version
  tags                = var.tags

  default_node_pool {
    name                        = "system"
    vm_size                     = var.system_vm_size
    node_count                  = var.system_node_count
    temporary_name_for_rotation = "systemtmp"
  }

  identity {
    type = "SystemAssigned"
  }

  confidential_computing {
    sgx_quote_helper_enabled = var.sgx_quote_helper_enabled
  }

  network_profile {
    network_plugin    = "azure"
    load_balancer_sku = "standard"
  }
}

# The SGX nodes: DCsv3/DCdsv3 (Intel SGX with FLC, EPC up to 256 GiB), labelled and tainted.
resource "azurerm_kubernetes_cluster_node_pool" "sgx" {
  name                  = "sgx"
  kubernetes_cluster_id = azurerm_kubernetes_cluster.this.id
  vm_size               = var.sgx_vm_size
  node_count            = var.sgx_node_count
  mode                  = "User"
  os_type               = "Linux"
  os_sku                = "Ubuntu"
  zones                 = var.sgx_zones
  node_labels           = local.sgx_node_labels
  node_taints           = var.sgx_node_taints
  tags                  = var.tags
}

# attestd's public endpoint: a static Standard public IP in the node resource group (where AKS's
# cloud provider may use it without extra role assignments), named by the Service annotation
# service.beta.kubernetes.io/azure-pip-name (see the attestd_chart_values output).
resource "azurerm_public_ip" "attestd" {
  count               = var.attestd_public_endpoint ? 1 : 0
  name                = "${var.name}-attestd"
  location            = azurerm_resource_group.this.location
  resource_group_name = azurerm_kubernetes_cluster.this.node_resource_group
  allocation_method   = "Static"
  sku                 = "Standard"
  domain_name_label   = local.attestd_dns_label
  tags                = var.tags
}
