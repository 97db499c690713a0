{{/*
Chart name, cut to 63 characters because some Kubernetes name fields are limited to that.
*/}}
{{- define "pizza-api.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, cut to 63 characters. A release name that already
contains the chart name is used as it is, so `helm install pizza-api` names the
Deployment pizza-api.
*/}}
{{- define "pizza-api.fullname" -}}
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

{{/*
Name of a dependent object: the fullname cut so that "-<suffix>" still fits in 63 characters.
*/}}
{{- define "pizza-api.suffixed" -}}
{{- $root := index . 0 }}
{{- $suffix := index . 1 }}
{{- printf "%s-%s" (include "pizza-api.fullname" $root | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix }}
{{- end }}

{{- define "pizza-api.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels. `app` lets operators run `kubectl get pods -l app=pizza-api`.
*/}}
{{- define "pizza-api.selectorLabels" -}}
app: {{ include "pizza-api.name" . }}
app.kubernetes.io/name: {{ include "pizza-api.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "pizza-api.labels" -}}
{{ include "pizza-api.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: api
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "pizza-api.chart" . }}
{{- end }}

{{- define "pizza-api.configName" -}}
{{ include "pizza-api.suffixed" (list . "config") }}
{{- end }}

{{- define "pizza-api.secretName" -}}
{{ .Values.secret.name | default (include "pizza-api.suffixed" (list . "secrets")) }}
{{- end }}

{{- define "pizza-api.dataClaimName" -}}
{{ include "pizza-api.suffixed" (list . "data") }}
{{- end }}

{{- define "pizza-api.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "pizza-api.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Settings shared by the migration init container and the service container.
*/}}
{{- define "pizza-api.containerCommon" -}}
image: {{ printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
envFrom:
  - configMapRef:
      name: {{ include "pizza-api.configName" . }}
{{- with .Values.secret.keys }}
env:
  {{- range . }}
  - name: {{ . }}
    valueFrom:
      secretKeyRef:
        name: {{ include "pizza-api.secretName" $ }}
        key: {{ . }}
  {{- end }}
{{- end }}
resources:
  {{- toYaml .Values.resources | nindent 2 }}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  runAsNonRoot: true
  runAsUser: {{ .Values.securityContext.runAsUser }}
  runAsGroup: {{ .Values.securityContext.runAsUser }}
  capabilities:
    drop:
      - ALL
  seccompProfile:
    type: RuntimeDefault
volumeMounts:
  - name: data
    mountPath: {{ .Values.dataPath }}
  - name: tmp
    mountPath: /tmp
{{- end }}

{{- define "pizza-api.probe" -}}
httpGet:
  path: {{ .path }}
  port: http
initialDelaySeconds: {{ .initialDelaySeconds | default 0 }}
periodSeconds: {{ .periodSeconds }}
timeoutSeconds: {{ .timeoutSeconds }}
failureThreshold: {{ .failureThreshold }}
{{- end }}

{{/*
Combinations of values that render invalid or unsafe objects; all are listed in one failure.
*/}}
{{- define "pizza-api.validateValues" -}}
{{- $problems := list }}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- $problems = append $problems "autoscaling.minReplicas is above autoscaling.maxReplicas" }}
{{- end }}
{{- if and .Values.persistence.enabled (or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1)) }}
{{- $problems = append $problems "persistence.enabled uses a ReadWriteOnce volume: set replicaCount 1 and autoscaling.enabled false" }}
{{- end }}
{{- if $problems }}
{{- fail (printf "invalid values:\n- %s" (join "\n- " $problems)) }}
{{- end }}
{{- end }}
