{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "flow-stream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: <release>-<chart> unless the release name already holds the chart name. */}}
{{- define "flow-stream.fullname" -}}
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

{{- define "flow-stream.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "flow-stream.labels" -}}
helm.sh/chart: {{ include "flow-stream.chart" . }}
app.kubernetes.io/name: {{ include "flow-stream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flow-stream
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels; call with (dict "ctx" $ "component" "mgmt"). */}}
{{- define "flow-stream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flow-stream.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Name of one component's resources: <fullname>-mgmt, <fullname>-worker. */}}
{{- define "flow-stream.componentName" -}}
{{- printf "%s-%s" (include "flow-stream.fullname" .ctx) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "flow-stream.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flow-stream.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "flow-stream.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "flow-stream.secretName" -}}
{{- if .Values.secrets.create }}
{{- include "flow-stream.fullname" . }}
{{- else }}
{{- required "secrets.existingSecret is required when secrets.create is false" .Values.secrets.existingSecret }}
{{- end }}
{{- end }}

{{/* Path of the configuration file inside the pods. */}}
{{- define "flow-stream.configPath" -}}
/etc/flow-stream/pipeline-config.yaml
{{- end }}

{{/*
Environment of both containers: the configuration file, the overlay selector and the secrets as
FLOW__ overrides. Optional keys (passwords, tokens) may be absent from a brought-your-own Secret.
Call with (dict "ctx" $ "component" "mgmt").
*/}}
{{- define "flow-stream.env" -}}
{{- $ctx := .ctx }}
{{- $secret := include "flow-stream.secretName" $ctx }}
- name: FLOW_CONFIG
  value: {{ include "flow-stream.configPath" $ctx }}
{{- if $ctx.Values.environment }}
- name: FLOW_ENVIRONMENT
  value: {{ $ctx.Values.environment | quote }}
{{- end }}
{{- include "flow-stream.tlsEnv" (dict "ctx" $ctx) }}
{{- if not $ctx.Values.secrets.asFiles }}
{{- if or $ctx.Values.secrets.databaseUrl (not $ctx.Values.secrets.create) }}
- name: FLOW__DATABASE__URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $ctx.Values.secrets.keys.databaseUrl }}
      optional: {{ not $ctx.Values.secrets.create }}
{{- end }}
- name: FLOW__MQ__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $ctx.Values.secrets.keys.mqPassword }}
      optional: true
- name: FLOW__OPENSEARCH__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $ctx.Values.secrets.keys.opensearchPassword }}
      optional: true
{{- end }}
{{- if eq .component "mgmt" }}
- name: FLOW__AUTH__TOKENS
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $ctx.Values.secrets.keys.authTokens }}
      optional: true
{{- end }}
{{- end }}

{{/* Checksum of the configuration, so that pods roll when it changes. */}}
{{- define "flow-stream.configChecksum" -}}
{{- printf "%s%s" (toYaml .Values.config) (toYaml .Values.configOverlay) | sha256sum }}
{{- end }}

{{/* Checks of value combinations that the schema cannot express. */}}
{{- define "flow-stream.validate" -}}
{{- include "flow-stream.tlsValidate" . }}
{{- if and .Values.autoscaling.enabled .Values.keda.enabled }}
{{- fail "autoscaling.enabled and keda.enabled are mutually exclusive: KEDA manages its own HPA" }}
{{- end }}
{{- if .Values.config.mq.password }}
{{- fail "config.mq.password must stay empty: set secrets.mqPassword (a Secret), not the ConfigMap" }}
{{- end }}
{{- if .Values.config.opensearch.password }}
{{- fail "config.opensearch.password must stay empty: set secrets.opensearchPassword (a Secret), not the ConfigMap" }}
{{- end }}
{{- if .Values.config.auth.tokens }}
{{- fail "config.auth.tokens must stay empty: set secrets.authTokens (a Secret), not the ConfigMap" }}
{{- end }}
{{- if and .Values.keda.enabled (not .Values.keda.pipelines) }}
{{- fail "keda.enabled needs keda.pipelines: the pipelines whose consumer lag drives scaling" }}
{{- end }}
{{- end }}
