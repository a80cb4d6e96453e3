{{/*
TLS to Kafka and OpenSearch (values `tls`) and secrets as files (`secrets.asFiles`): the
environment variables naming the mounted files, the volumes and their mounts. Included by
flow-stream.env and by both Deployments.
*/}}

{{- define "flow-stream.tlsDir" -}}/etc/flow-stream-tls{{- end }}
{{- define "flow-stream.secretsDir" -}}/etc/flow-stream-secrets{{- end }}

{{/* Whether the CA bundle is mounted. */}}
{{- define "flow-stream.tlsCa" -}}
{{- if or .Values.tls.ca.configMap .Values.tls.ca.secret }}true{{ end }}
{{- end }}

{{/* Whether the client certificate is mounted. */}}
{{- define "flow-stream.tlsClient" -}}
{{- if and .Values.tls.clientSecret (or .Values.tls.kafka.clientCertificate .Values.tls.opensearch.clientCertificate) }}true{{ end }}
{{- end }}

{{- define "flow-stream.tlsValidate" -}}
{{- if and .Values.tls.ca.configMap .Values.tls.ca.secret }}
{{- fail "tls.ca: set configMap or secret, not both" }}
{{- end }}
{{- if and (or .Values.tls.kafka.clientCertificate .Values.tls.opensearch.clientCertificate) (not .Values.tls.clientSecret) }}
{{- fail "tls.*.clientCertificate needs tls.clientSecret: a kubernetes.io/tls Secret" }}
{{- end }}
{{- end }}

{{/* Environment of the TLS and secret-file settings; `.ctx` is the root context. */}}
{{- define "flow-stream.tlsEnv" -}}
{{- $v := .ctx.Values }}
{{- $ca := printf "%s/ca/%s" (include "flow-stream.tlsDir" .ctx) $v.tls.ca.key }}
{{- $client := printf "%s/client" (include "flow-stream.tlsDir" .ctx) }}
{{- $secrets := include "flow-stream.secretsDir" .ctx }}
{{- if $v.tls.kafka.enabled }}
- name: FLOW__MQ__TLS
  value: "true"
{{- if include "flow-stream.tlsCa" .ctx }}
- name: FLOW__MQ__CA_FILE
  value: {{ $ca | quote }}
{{- end }}
{{- if $v.tls.kafka.clientCertificate }}
- name: FLOW__MQ__CERT_FILE
  value: {{ printf "%s/tls.crt" $client | quote }}
- name: FLOW__MQ__KEY_FILE
  value: {{ printf "%s/tls.key" $client | quote }}
{{- end }}
{{- end }}
{{- if $v.tls.opensearch.enabled }}
{{- if include "flow-stream.tlsCa" .ctx }}
- name: FLOW__OPENSEARCH__CA_FILE
  value: {{ $ca | quote }}
{{- end }}
{{- if $v.tls.opensearch.clientCertificate }}
- name: FLOW__OPENSEARCH__CERT_FILE
  value: {{ printf "%s/tls.crt" $client | quote }}
- name: FLOW__OPENSEARCH__KEY_FILE
  value: {{ printf "%s/tls.key" $client | quote }}
{{- end }}
{{- end }}
{{- if $v.secrets.asFiles }}
{{- if or $v.secrets.databaseUrl (not $v.secrets.create) }}
- name: FLOW__DATABASE__URL_FILE
  value: {{ printf "%s/%s" $secrets $v.secrets.keys.databaseUrl | quote }}
{{- end }}
{{- if $v.config.mq.username }}
- name: FLOW__MQ__PASSWORD_FILE
  value: {{ printf "%s/%s" $secrets $v.secrets.keys.mqPassword | quote }}
{{- end }}
{{- if $v.config.opensearch.username }}
- name: FLOW__OPENSEARCH__PASSWORD_FILE
  value: {{ printf "%s/%s" $secrets $v.secrets.keys.opensearchPassword | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Volume mounts of the TLS files and the secret files. */}}
{{- define "flow-stream.tlsVolumeMounts" -}}
{{- if include "flow-stream.tlsCa" . }}
- name: tls-ca
  mountPath: {{ include "flow-stream.tlsDir" . }}/ca
  readOnly: true
{{- end }}
{{- if include "flow-stream.tlsClient" . }}
- name: tls-client
  mountPath: {{ include "flow-stream.tlsDir" . }}/client
  readOnly: true
{{- end }}
{{- if .Values.secrets.asFiles }}
- name: secret-files
  mountPath: {{ include "flow-stream.secretsDir" . }}
  readOnly: true
{{- end }}
{{- end }}

{{/* Volumes of the TLS files and the secret files. */}}
{{- define "flow-stream.tlsVolumes" -}}
{{- if .Values.tls.ca.configMap }}
- name: tls-ca
  configMap:
    name: {{ .Values.tls.ca.configMap }}
{{- else if .Values.tls.ca.secret }}
- name: tls-ca
  secret:
    secretName: {{ .Values.tls.ca.secret }}
{{- end }}
{{- if include "flow-stream.tlsClient" . }}
- name: tls-client
  secret:
    secretName: {{ .Values.tls.clientSecret }}
    defaultMode: 0400
{{- end }}
{{- if .Values.secrets.asFiles }}
- name: secret-files
  secret:
    secretName: {{ include "flow-stream.secretName" . }}
    defaultMode: 0400
{{- end }}
{{- end }}
