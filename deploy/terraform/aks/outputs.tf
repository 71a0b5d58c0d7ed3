locals {
  attestd_scheme = var.attestd_tls ? "https" : "http"
  attestd_url = (var.attestd_public_endpoint
    ? "${local.attestd_scheme}://${azurerm_public_ip.attestd[0].fqdn}:${var.attestd_port}"
  : "${local.attestd_scheme}://sgxops-attestd.${var.attestd_namespace}.svc:${var.attestd_port}")
}

output "cluster_name" {
  description = "Name of the AKS cluster."
  value       = azurerm_kubernetes_cluster.this.name
}

output "resource_group_name" {
  description = "Resource group of the cluster."
  value       = azurerm_resource_group.this.name
}

output "node_resource_group" {
  description = "AKS's node resource group (holds the nodes and attestd's public IP)."
  value       = azurerm_kubernetes_cluster.this.node_resource_group
}

output "kubeconfig_command" {
  description = "Command that merges the cluster's credentials into ~/.kube/config."
  value       = "az aks get-credentials --resource-group ${azurerm_resource_group.this.name} --name ${azurerm_kubernetes_cluster.this.name}"
}

output "kube_config" {
  description = "API server and credentials (for the helm and kubernetes providers)."
  sensitive   = true
  value = {
    host                   = azurerm_kubernetes_cluster.this.kube_config[0].host
    client_certificate     = azurerm_kubernetes_cluster.this.kube_config[0].client_certificate
    client_key             = azurerm_kubernetes_cluster.this.kube_config[0].client_key
    cluster_ca_certificate = azurerm_kubernetes_cluster.this.kube_config[0].cluster_ca_certificate
  }
}

output "attestd_url" {
  description = "attestd's base URL (the token issuer): the public endpoint when enabled, else the in-cluster Service."
  value       = local.attestd_url
}

output "attestd_chart_values" {
  description = "YAML values for the sgxops chart that expose attestd on the public IP (\"\" without it)."
  value = var.attestd_public_endpoint ? yamlencode({
    attestd = {
      issuer = local.attestd_url
      service = {
        type = "LoadBalancer"
        annotations = {
          "service.beta.kubernetes.io/azure-pip-name" = azurerm_public_ip.attestd[0].name
        }
      }
    }
  }) : ""
}

output "sgx_node_labels" {
  description = "Labels of the SGX nodes."
  value       = local.sgx_node_labels
}

output "sgx_node_taints" {
  description = "Taints of the SGX nodes: SGX workloads (EnclaveApps, the doctor DaemonSet) must tolerate them."
  value       = var.sgx_node_taints
}
