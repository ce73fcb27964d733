{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "blackwatch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: the release name, unless it already contains the chart name. */}}
{{- define "blackwatch.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "blackwatch.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{- define "blackwatch.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "blackwatch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "blackwatch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "blackwatch.labels" -}}
helm.sh/chart: {{ include "blackwatch.chart" . }}
{{ include "blackwatch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: blackwatch
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "blackwatch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "blackwatch.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* registry/repository:tag or @digest; the registry falls back to global.imageRegistry. */}}
{{- define "blackwatch.image" -}}
{{- $registry := .Values.image.registry | default .Values.global.imageRegistry -}}
{{- $repo := .Values.image.repository -}}
{{- if $registry }}{{ $repo = printf "%s/%s" $registry $repo }}{{ end -}}
{{- if .Values.image.digest -}}
{{ printf "%s@%s" $repo .Values.image.digest }}
{{- else -}}
{{ printf "%s:%s" $repo (.Values.image.tag | default (printf "v%s" .Chart.AppVersion)) }}
{{- end -}}
{{- end }}

{{- define "blackwatch.configMapName" -}}
{{- .Values.existingConfigMap | default (include "blackwatch.fullname" .) }}
{{- end }}

{{/* The daemon config: `config`, plus the paths of the chart's rule files in rule_files. */}}
{{- define "blackwatch.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- if .Values.rules -}}
{{- $files := list -}}
{{- range $f := ($config.rule_files | default list) }}{{ $files = append $files $f }}{{ end -}}
{{- range $name, $_ := .Values.rules }}{{ $files = append $files (printf "/etc/blackwatch/rules/%s" $name) }}{{ end -}}
{{- $_ := set $config "rule_files" $files -}}
{{- end -}}
{{- toYaml $config }}
{{- end }}

{{/* Whether the StatefulSet (with its PVC) is used instead of the Deployment. */}}
{{- define "blackwatch.statefulset" -}}
{{- if or .Values.persistence.enabled (include "blackwatch.clustered" .) }}true{{ end }}
{{- end }}

{{/* More than one replica: they form a cluster (gossip on cluster.port, peers found through
the headless Service) and run as a StatefulSet for stable names. */}}
{{- define "blackwatch.clustered" -}}
{{- if gt (int .Values.replicas) 1 }}true{{ end }}
{{- end }}
