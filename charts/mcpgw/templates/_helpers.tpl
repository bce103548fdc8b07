{{/* The release's name for everything it makes. */}}
{{- define "mcpgw.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mcpgw.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: (dict "ctx" $ "component" "data-plane") */}}
{{- define "mcpgw.selector" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "mcpgw.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "mcpgw.secretName" -}}
{{ .Values.secrets.existingSecret | default (printf "%s-secrets" (include "mcpgw.fullname" .)) }}
{{- end -}}

{{- define "mcpgw.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{ .Values.serviceAccount.name | default (include "mcpgw.fullname" .) }}
{{- else -}}
{{ .Values.serviceAccount.name | default "default" }}
{{- end -}}
{{- end -}}

{{- define "mcpgw.tlsSecretName" -}}
{{ .Values.tls.existingSecret | default (printf "%s-control-plane-tls" (include "mcpgw.fullname" .)) }}
{{- end -}}

{{/* Where data planes find the control plane: its Service. */}}
{{- define "mcpgw.controlPlaneUrl" -}}
{{ if .Values.tls.enabled }}https{{ else }}http{{ end }}://{{ include "mcpgw.fullname" . }}-control-plane.{{ .Release.Namespace }}.svc:{{ .Values.controlPlane.port }}
{{- end -}}

{{/* Exactly one registry database. */}}
{{- define "mcpgw.checkDatabase" -}}
{{- if and .Values.postgres.enabled .Values.database.existingSecret -}}
{{- fail "Set database.existingSecret (an external Postgres) or postgres.enabled (the bundled one), not both" -}}
{{- end -}}
{{- if not (or .Values.postgres.enabled .Values.database.existingSecret) -}}
{{- fail "The control plane needs a registry database: set database.existingSecret to a Secret holding DATABASE_URL (an external Postgres), or postgres.enabled=true to try the bundled one" -}}
{{- end -}}
{{- if and .Values.tls.enabled (not (or .Values.tls.existingSecret .Values.tls.certManager.enabled)) -}}
{{- fail "tls.enabled needs tls.existingSecret (tls.crt, tls.key, ca.crt) or tls.certManager.enabled" -}}
{{- end -}}
{{- if and .Values.tls.certManager.enabled (not .Values.tls.certManager.issuerRef.name) -}}
{{- fail "tls.certManager.enabled needs tls.certManager.issuerRef.name" -}}
{{- end -}}
{{- end -}}

{{/* The secrets every process reads. */}}
{{- define "mcpgw.secretEnv" -}}
{{- range $key := list "JWT_SECRET_KEY" "AUTH_ENCRYPTION_SECRET" }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ include "mcpgw.secretName" $ }}
      key: {{ $key }}
{{- end }}
- name: RUST_LOG
  value: {{ .Values.logLevel | quote }}
- name: MCPGW_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
- name: HOST
  value: "0.0.0.0"
{{- with .Values.tracing }}
{{- if .endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .endpoint | quote }}
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: {{ .protocol | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ .sampler | quote }}
{{- if .samplerArg }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ .samplerArg | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "mcpgw.extraEnv" -}}
{{- range $k, $v := . }}
- name: {{ $k }}
  value: {{ $v | toString | quote }}
{{- end }}
{{- end -}}

{{- define "mcpgw.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "mcpgw.securityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Probes on /health (alive) and /ready (able to serve). */}}
{{- define "mcpgw.probes" -}}
startupProbe:
  httpGet: {path: /health, port: {{ .port }}, scheme: {{ .scheme }}}
  periodSeconds: 2
  failureThreshold: 30
livenessProbe:
  httpGet: {path: /health, port: {{ .port }}, scheme: {{ .scheme }}}
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /ready, port: {{ .port }}, scheme: {{ .scheme }}}
  periodSeconds: 5
  failureThreshold: 2
{{- end -}}
