{{/* Common labels. */}}
{{- define "sgxops.labels" -}}
app.kubernetes.io/part-of: sgxops
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* Image reference: registry/name:tag (tag defaults to appVersion). Call with (list $ "attestd"). */}}
{{- define "sgxops.image" -}}
{{- $root := index . 0 -}}
{{- $name := index $root.Values.images (index . 1) -}}
{{- printf "%s/%s:%s" $root.Values.images.registry $name (default $root.Chart.AppVersion $root.Values.images.tag) -}}
{{- end }}

{{/* Namespace of attestd's store and signing-key Secret. */}}
{{- define "sgxops.storeNamespace" -}}
{{- default .Release.Namespace .Values.attestd.store.namespace -}}
{{- end }}

{{/* attestd's issuer: its public base URL. */}}
{{- define "sgxops.issuer" -}}
{{- if .Values.attestd.issuer -}}
{{- .Values.attestd.issuer -}}
{{- else -}}
{{- printf "%s://sgxops-attestd.%s.svc:%d" (ternary "https" "http" (ne .Values.attestd.tls.secretName "")) .Release.Namespace (int .Values.attestd.port) -}}
{{- end -}}
{{- end }}

{{/* Name of the admin token Secret. */}}
{{- define "sgxops.adminSecret" -}}
{{- default .Values.attestd.adminToken.secretName .Values.attestd.adminToken.existingSecret -}}
{{- end }}

{{/* The restricted security context of every sgxops container: non-root, no privilege, read-only root. */}}
{{- define "sgxops.containerSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: ["ALL"]
  seccompProfile:
    type: RuntimeDefault
{{- end }}

{{/* Cross-field checks that a JSON schema cannot phrase clearly. */}}
{{- define "sgxops.validate" -}}
{{- $sim := .Values.insecureSimulation.enabled -}}
{{- $src := .Values.collateral.source -}}
{{- if and $sim (ne $src "simulated") -}}
{{- fail "insecureSimulation.enabled is true: set collateral.source to \"simulated\" too (attestd then takes collateral from the simulated PCS); use values-simulation.yaml" -}}
{{- end -}}
{{- if and (not $sim) (eq $src "simulated") -}}
{{- fail "collateral.source \"simulated\" needs insecureSimulation.enabled: true (INSECURE; see values-simulation.yaml)" -}}
{{- end -}}
{{- if and .Values.attestd.serviceMonitor.enabled (not (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor")) -}}
{{- fail "attestd.serviceMonitor.enabled needs the Prometheus Operator's CRDs (monitoring.coreos.com/v1 ServiceMonitor) in the cluster" -}}
{{- end -}}
{{- end }}
