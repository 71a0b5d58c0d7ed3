variable "name" {
  description = "Name of the cluster, prefix of the other resources and the AKS DNS prefix."
  type        = string
  default     = "sgxops"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name: 3-32 lowercase letters, digits and '-', starting with a letter."
  }
}

variable "location" {
  description = "Azure region; it must offer DCsv3/DCdsv3 VMs (e.g. westeurope, northeurope, eastus, eastus2, uksouth)."
  type        = string
  default     = "westeurope"
}

variable "resource_group_name" {
  description = "Resource group to create. Null: NAME-rg."
  type        = string
  default     = null
}

variable "kubernetes_version" {
  description = "AKS Kubernetes version. Null: AKS's default."
  type        = string
  default     = null
}

variable "system_vm_size" {
  description = "VM size of the system node pool (attestd, the operator, add-ons)."
  type        = string
  default     = "Standard_D2s_v5"
}

variable "system_node_count" {
  description = "Nodes in the system pool."
  type        = number
  default     = 2
}

variable "sgx_vm_size" {
  description = "VM size of the SGX node pool: a DCsv3 or DCdsv3 size (Intel SGX with Flexible Launch Control)."
  type        = string
  default     = "Standard_DC4s_v3"

  validation {
    condition     = can(regex("^Standard_DC[0-9]+d?s_v3$", var.sgx_vm_size))
    error_message = "sgx_vm_size must be a DCsv3 or DCdsv3 size, e.g. Standard_DC4s_v3 or Standard_DC4ds_v3."
  }
}

variable "sgx_node_count" {
  description = "Nodes in the SGX pool (2 or more for blue/green rollouts that survive a node)."
  type        = number
  default     = 2
}

variable "sgx_zones" {
  description = "Availability zones of the SGX pool. Null: none (regional)."
  type        = list(string)
  default     = null
}

variable "sgx_node_labels" {
  description = "Extra labels on the SGX nodes (sgxops.io/sgx=true is always set; `sgxops doctor --cluster` looks for it)."
  type        = map(string)
  default     = {}
}

variable "sgx_node_taints" {
  description = "Taints of the SGX nodes, so that only pods that need SGX land there. The chart's doctor DaemonSet tolerates the default; EnclaveApps add the toleration in spec.build.tolerations and spec.runtime.tolerations. [] for none."
  type        = list(string)
  default     = ["sgxops.io/sgx=true:NoSchedule"]
}

variable "sgx_quote_helper_enabled" {
  description = "Run the confidential-computing add-on's SGX quote helper (out-of-process quoting through the aesmd socket it serves)."
  type        = bool
  default     = true
}

variable "attestd_public_endpoint" {
  description = "Create a static public IP (with a DNS name) for attestd's Service; the chart values in the attestd_chart_values output make the Service a LoadBalancer on it."
  type        = bool
  default     = false
}

variable "attestd_dns_label" {
  description = "DNS label of attestd's public IP: LABEL.LOCATION.cloudapp.azure.com. Null: NAME-attestd."
  type        = string
  default     = null
}

variable "attestd_namespace" {
  description = "Namespace the chart is installed in (for the in-cluster attestd URL)."
  type        = string
  default     = "sgxops"
}

variable "attestd_port" {
  description = "attestd's Service port (the chart's attestd.port)."
  type        = number
  default     = 8080
}

variable "attestd_tls" {
  description = "Whether attestd serves HTTPS (the chart's attestd.tls.secretName is set): only changes the scheme of attestd_url."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}
