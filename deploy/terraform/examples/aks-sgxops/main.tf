# AKS with SGX nodes (deploy/terraform/aks) and the sgxops chart installed on it.
provider "azurerm" {
  features {}
  subscription_id = var.subscription_id
}

module "aks" {
  source = "../../aks"

  name                    = var.name
  location                = var.location
  attestd_namespace       = var.namespace
  attestd_public_endpoint = var.attestd_public_endpoint
}

provider "helm" {
  kubernetes {
    host                   = module.aks.kube_config.host
    client_certificate     = base64decode(module.aks.kube_config.client_certificate)
    client_key             = base64decode(module.aks.kube_config.client_key)
    cluster_ca_certificate = base64decode(module.aks.kube_config.cluster_ca_certificate)
  }
}

resource "helm_release" "sgxops" {
  name             = "sgxops"
  chart            = "${path.module}/../../../helm/sgxops"
  namespace        = var.namespace
  create_namespace = true
  wait             = true
  timeout          = 600

  values = concat([
    yamlencode({
      images = { registry = var.image_registry, pullPolicy = "IfNotPresent" }
      doctor = {
        enabled      = var.doctor
        nodeSelector = { "sgxops.io/sgx" = "true" }
      }
    }),
  ], compact([module.aks.attestd_chart_values]), var.extra_values)
}
