variable "subscription_id" {
  description = "Azure subscription. Null: $ARM_SUBSCRIPTION_ID."
  type        = string
  default     = null
}

variable "name" {
  description = "Cluster name (and prefix of the other resources)."
  type        = string
  default     = "sgxops"
}

variable "location" {
  description = "Azure region with DCsv3/DCdsv3 VMs."
  type        = string
  default     = "westeurope"
}

variable "image_registry" {
  description = "Registry holding the sgxops images (attestd, operator, sgxops at the chart's appVersion), e.g. MYACR.azurecr.io/sgxops; the cluster must be able to pull from it (az aks update --attach-acr)."
  type        = string
}

variable "namespace" {
  description = "Namespace of the chart's release."
  type        = string
  default     = "sgxops"
}

variable "attestd_public_endpoint" {
  description = "Expose attestd on a static public IP (plain HTTP unless you set attestd.tls.secretName in extra_values)."
  type        = bool
  default     = false
}

variable "doctor" {
  description = "Run `sgxops doctor` as a DaemonSet on the SGX nodes (reports in the pod logs)."
  type        = bool
  default     = true
}

variable "extra_values" {
  description = "More chart values as YAML documents, applied last (e.g. collateral.source: thim)."
  type        = list(string)
  default     = []
}
