{{/* Chart name, truncated to 63 characters. */}}
{{- define "chronos.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Base name of every object: the release name (with the chart name appended unless it
already contains it). Cluster-scoped objects (ClusterRoles, ClusterRoleBindings) carry
it too, so two releases never collide.
*/}}
{{- define "chronos.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "chronos.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; pass (dict "ctx" $ "component" "operator"). */}}
{{- define "chronos.labels" -}}
helm.sh/chart: {{ include "chronos.chart" .ctx }}
{{ include "chronos.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: chronos
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "chronos.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chronos.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Object names per component. */}}
{{- define "chronos.operator.fullname" -}}{{ include "chronos.fullname" . }}-operator{{- end }}
{{- define "chronos.operator.settings" -}}{{ include "chronos.fullname" . }}-operator-settings{{- end }}
{{- define "chronos.api.fullname" -}}{{ include "chronos.fullname" . }}-api{{- end }}
{{- define "chronos.runner.fullname" -}}{{ include "chronos.fullname" . }}-runner{{- end }}

{{- define "chronos.operator.serviceAccountName" -}}
{{- default (include "chronos.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- end }}
{{- define "chronos.api.serviceAccountName" -}}
{{- default (include "chronos.api.fullname" .) .Values.api.serviceAccount.name }}
{{- end }}
{{/* The dashboard's session-key Secret: the user's, or the one the chart creates. */}}
{{- define "chronos.api.sessionSecret" -}}
{{- default (printf "%s-session" (include "chronos.api.fullname" .)) .Values.api.dashboard.sessionSecret }}
{{- end }}
{{/* The ConfigMap where the API's replicas record dashboard sign-outs. */}}
{{- define "chronos.api.signOuts" -}}{{ include "chronos.api.fullname" . }}-sign-outs{{- end }}
{{- define "chronos.runner.serviceAccountName" -}}
{{- default (include "chronos.runner.fullname" .) .Values.runner.serviceAccount.name }}
{{- end }}

{{/* Namespaces where runner pods run (RoleBinding + ServiceAccount in each). */}}
{{- define "chronos.runner.namespaces" -}}
{{- if .Values.runner.namespaces }}
{{- toJson (uniq .Values.runner.namespaces) }}
{{- else }}
{{- toJson (list .Release.Namespace) }}
{{- end }}
{{- end }}

{{/* An image reference; pass (dict "ctx" $ "image" .Values.operator.image). */}}
{{- define "chronos.image" -}}
{{- $registry := .image.registry | default .ctx.Values.global.imageRegistry -}}
{{- $ref := printf "%s:%s" .image.repository (.image.tag | default .ctx.Chart.AppVersion) -}}
{{- if .image.digest }}{{- $ref = printf "%s@%s" .image.repository .image.digest }}{{- end -}}
{{- if $registry }}{{ printf "%s/%s" $registry $ref }}{{ else }}{{ $ref }}{{ end -}}
{{- end }}

{{- define "chronos.leaseNamespace" -}}
{{- default .Release.Namespace .Values.operator.leaderElection.leaseNamespace }}
{{- end }}

{{/* The operator's leader Lease, and beside it the ConfigMap where each replica
publishes its figures for the dashboard's Cluster page (chronos.models.figures). */}}
{{- define "chronos.leaseName" -}}
{{- default (include "chronos.operator.fullname" .) .Values.operator.leaderElection.leaseName }}
{{- end }}
{{- define "chronos.figures" -}}{{ include "chronos.leaseName" . }}-figures{{- end }}

{{/* Spread a component's replicas over nodes: the given constraints, else one that
prefers distinct nodes but still schedules on a single-node cluster (ScheduleAnyway). */}}
{{- define "chronos.spread" -}}
{{- if .given }}
{{- toYaml .given }}
{{- else }}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "chronos.selectorLabels" (dict "ctx" .ctx "component" .component) | nindent 6 }}
{{- end }}
{{- end }}
