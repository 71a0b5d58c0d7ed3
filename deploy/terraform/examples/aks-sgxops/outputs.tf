output "kubeconfig_command" {
  description = "Merges the cluster's credentials into ~/.kube/config."
  value       = module.aks.kubeconfig_command
}

output "cluster_name" {
  description = "Name of the AKS cluster."
  value       = module.aks.cluster_name
}

output "attestd_url" {
  description = "attestd's base URL (token issuer)."
  value       = module.aks.attestd_url
}

output "doctor_command" {
  description = "Reads the doctor DaemonSet's latest reports, then checks the cluster from here."
  value       = "kubectl -n ${var.namespace} logs -l app.kubernetes.io/name=doctor --tail=40; sgxops doctor --host=false --cluster --attestd-namespace ${var.namespace}"
}
