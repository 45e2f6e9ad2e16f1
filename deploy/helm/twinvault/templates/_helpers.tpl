{{/* Names, labels and the TOML rendering shared by the templates. */}}

{{- define "twinvault.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release name if it contains the chart name, else <release>-<chart>. */}}
{{- define "twinvault.fullname" -}}
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

{{/* Pod selector: stable across upgrades, so never the version. */}}
{{- define "twinvault.selectorLabels" -}}
app.kubernetes.io/name: {{ include "twinvault.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end }}

{{- define "twinvault.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "twinvault.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: twinvault
{{- end }}

{{- define "twinvault.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Name of the Secret behind users / keyring / upstreams: chart-made or existing. */}}
{{- define "twinvault.secretName" -}}
{{- $s := index .root.Values.secrets .kind }}
{{- if $s.create }}
{{- printf "%s-%s" (include "twinvault.fullname" .root) .kind }}
{{- else }}
{{- required (printf "secrets.%s.existingSecret is required unless secrets.%s.create" .kind .kind) $s.existingSecret }}
{{- end }}
{{- end }}

{{- define "twinvault.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "twinvault.fullname" .)) .Values.tls.existingSecret }}
{{- end }}

{{/*
One TOML value: strings as basic strings (JSON escapes are valid TOML escapes), integers
without a fraction (YAML numbers reach templates as float64), booleans, and arrays of those.
*/}}
{{- define "twinvault.tomlValue" -}}
{{- if kindIs "string" . }}{{ toJson . }}
{{- else if kindIs "bool" . }}{{ . }}
{{- else if or (kindIs "float64" .) (kindIs "int" .) (kindIs "int64" .) }}{{ int64 . }}
{{- else if kindIs "slice" . }}[{{ range $i, $v := . }}{{ if $i }}, {{ end }}{{ include "twinvault.tomlValue" $v }}{{ end }}]
{{- else }}{{ fail (printf "twinvault.toml: cannot render %v (%s)" . (kindOf .)) }}
{{- end }}
{{- end }}

{{/* Cross-field rules the JSON schema cannot express. */}}
{{- define "twinvault.validate" -}}
{{- $regions := list }}
{{- range .Values.regions }}
{{- if has .name $regions }}
{{- fail (printf "regions: the name %q is used twice" .name) }}
{{- end }}
{{- $regions = append $regions .name }}
{{- end }}
{{- $preferred := .Values.config.replication.preferred_region }}
{{- if and $preferred (not (has $preferred $regions)) }}
{{- fail (printf "config.replication.preferred_region %q is not one of the regions %v" $preferred $regions) }}
{{- end }}
{{- if not (has .Values.keyring.current .Values.keyring.keys) }}
{{- fail (printf "keyring.current %q is not listed in keyring.keys %v" .Values.keyring.current .Values.keyring.keys) }}
{{- end }}
{{- if and .Values.tls.certManager.enabled (not .Values.tls.enabled) }}
{{- fail "tls.certManager.enabled needs tls.enabled" }}
{{- end }}
{{- end }}
