{{/*
Chart name, cut to 63 characters (a DNS label).
*/}}
{{- define "glance-kafka.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: <release>-<chart name>, or the release name when it already contains the chart name.
Cut to 52 characters so that "-streams"/"-bridge" suffixes still fit in 63.
*/}}
{{- define "glance-kafka.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart label value: name-version, with "+" (not allowed in label values) replaced.
*/}}
{{- define "glance-kafka.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels. `app.kubernetes.io/part-of: glance-kafka` is fixed (not overridable): the
ServiceMonitor takes the Prometheus job name from it, and the alerts select job="glance-kafka".
*/}}
{{- define "glance-kafka.labels" -}}
helm.sh/chart: {{ include "glance-kafka.chart" . }}
{{ include "glance-kafka.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: glance-kafka
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels shared by every pod of the release; a component label tells workers from bridge.
*/}}
{{- define "glance-kafka.selectorLabels" -}}
app.kubernetes.io/name: {{ include "glance-kafka.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the ServiceAccount the pods use.
*/}}
{{- define "glance-kafka.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "glance-kafka.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image reference: [registry/]repository, then @digest or :tag (tag defaults to appVersion).
*/}}
{{- define "glance-kafka.image" -}}
{{- $repo := .Values.image.repository }}
{{- with .Values.image.registry }}
{{- $repo = printf "%s/%s" . $repo }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Secret holding the TLS files, and the one holding the schema-registry user info.
*/}}
{{- define "glance-kafka.tlsSecretName" -}}
{{- default .Values.kafka.existingSecret .Values.kafka.tls.existingSecret }}
{{- end }}

{{- define "glance-kafka.registrySecretName" -}}
{{- default .Values.kafka.existingSecret .Values.schemaRegistry.existingSecret }}
{{- end }}

{{/*
Environment shared by workers and bridge: non-secret settings from the ConfigMap, credentials
from the existing Secret only (secretKeyRef), never from values.
*/}}
{{- define "glance-kafka.envFrom" -}}
envFrom:
  - configMapRef:
      name: {{ include "glance-kafka.fullname" . }}
{{- end }}

{{- define "glance-kafka.secretEnv" -}}
{{- $kafka := .Values.kafka }}
{{- if hasPrefix "SASL_" $kafka.securityProtocol }}
- name: GLANCE_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $kafka.existingSecret }}
      key: {{ $kafka.secretKeys.saslUsername }}
- name: GLANCE_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $kafka.existingSecret }}
      key: {{ $kafka.secretKeys.saslPassword }}
{{- end }}
{{- if and $kafka.tls.enabled $kafka.tls.certKey $kafka.secretKeys.sslKeyPassword }}
- name: GLANCE_KAFKA_SSL_KEY_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $kafka.existingSecret }}
      key: {{ $kafka.secretKeys.sslKeyPassword }}
{{- end }}
{{- if .Values.schemaRegistry.basicAuth }}
- name: GLANCE_KAFKA_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO
  valueFrom:
    secretKeyRef:
      name: {{ include "glance-kafka.registrySecretName" . }}
      key: {{ .Values.schemaRegistry.userInfoKey }}
{{- end }}
{{- end }}

{{/*
Volumes and mounts: a writable emptyDir for the Faust data dir, one for HOME/TMPDIR, and the
TLS files when configured. The root filesystem stays read-only.
*/}}
{{- define "glance-kafka.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.tls.enabled }}
- name: kafka-tls
  mountPath: {{ .Values.kafka.tls.mountPath }}
  readOnly: true
{{- end }}
{{- end }}

{{- define "glance-kafka.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if .Values.kafka.tls.enabled }}
- name: kafka-tls
  secret:
    secretName: {{ include "glance-kafka.tlsSecretName" . }}
    defaultMode: 0440
    items:
      - key: {{ .Values.kafka.tls.caKey }}
        path: ca.crt
      {{- if .Values.kafka.tls.certKey }}
      - key: {{ .Values.kafka.tls.certKey }}
        path: tls.crt
      - key: {{ .Values.kafka.tls.keyKey }}
        path: tls.key
      {{- end }}
{{- end }}
{{- end }}

{{/*
The RabbitMQ tap's oslo.config file ([oslo_messaging_rabbit]), or nothing when it needs none.
*/}}
{{- define "glance-kafka.osloRabbitConfig" -}}
{{- $rabbit := .Values.bridge.rabbit }}
{{- if and .Values.bridge.enabled (eq .Values.bridge.source "rabbit") (or $rabbit.osloMessagingRabbit $rabbit.tls.enabled) }}
[oslo_messaging_rabbit]
{{- if $rabbit.tls.enabled }}
ssl = true
ssl_ca_file = {{ $rabbit.tls.mountPath }}/ca.crt
{{- end }}
{{- range $key, $value := $rabbit.osloMessagingRabbit }}
{{ $key }} = {{ $value }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Cross-field checks the JSON schema cannot express; every failure is collected, then `fail`.
*/}}
{{- define "glance-kafka.validateValues" -}}
{{- $errors := list }}
{{- $kafka := .Values.kafka }}
{{- if not $kafka.bootstrapServers }}
{{- $errors = append $errors "kafka.bootstrapServers is required: the Kafka bootstrap address, e.g. --set kafka.bootstrapServers=kafka:9092" }}
{{- end }}
{{- if hasPrefix "SASL_" $kafka.securityProtocol }}
{{- if not $kafka.saslMechanism }}
{{- $errors = append $errors (printf "kafka.saslMechanism is required with securityProtocol %s" $kafka.securityProtocol) }}
{{- end }}
{{- if not $kafka.existingSecret }}
{{- $errors = append $errors (printf "kafka.existingSecret is required with securityProtocol %s: the SASL credentials are read from it" $kafka.securityProtocol) }}
{{- end }}
{{- end }}
{{- if $kafka.tls.enabled }}
{{- if not (hasSuffix "SSL" $kafka.securityProtocol) }}
{{- $errors = append $errors "kafka.tls.enabled needs securityProtocol SSL or SASL_SSL" }}
{{- end }}
{{- if not (include "glance-kafka.tlsSecretName" .) }}
{{- $errors = append $errors "kafka.tls.enabled needs kafka.tls.existingSecret or kafka.existingSecret" }}
{{- end }}
{{- if and $kafka.tls.certKey (not $kafka.tls.keyKey) }}
{{- $errors = append $errors "kafka.tls.certKey needs kafka.tls.keyKey (the client private key)" }}
{{- end }}
{{- if and $kafka.secretKeys.sslKeyPassword $kafka.tls.certKey (not $kafka.existingSecret) }}
{{- $errors = append $errors "kafka.secretKeys.sslKeyPassword needs kafka.existingSecret" }}
{{- end }}
{{- end }}
{{- if and .Values.schemaRegistry.basicAuth (not (include "glance-kafka.registrySecretName" .)) }}
{{- $errors = append $errors "schemaRegistry.basicAuth needs schemaRegistry.existingSecret or kafka.existingSecret" }}
{{- end }}
{{- $bridge := .Values.bridge }}
{{- if and $bridge.enabled (eq $bridge.source "rabbit") (not $bridge.rabbit.existingSecret) }}
{{- $errors = append $errors "bridge.rabbit.existingSecret is required with bridge.source rabbit: the transport URL (rabbit://user:password@host:5672/vhost) is read from it" }}
{{- end }}
{{- if and $bridge.enabled (eq $bridge.source "kafka") (or $bridge.rabbit.osloMessagingRabbit $bridge.rabbit.tls.enabled) }}
{{- $errors = append $errors "bridge.rabbit.osloMessagingRabbit and bridge.rabbit.tls apply to bridge.source rabbit only" }}
{{- end }}
{{- $streams := .Values.streams }}
{{- if gt (int $streams.replicaCount) (int $streams.partitions) }}
{{- $errors = append $errors (printf "streams.replicaCount (%d) exceeds streams.partitions (%d): the extra workers would get no partition and never be ready" (int $streams.replicaCount) (int $streams.partitions)) }}
{{- end }}
{{- if $streams.autoscaling.enabled }}
{{- if gt (int $streams.autoscaling.maxReplicas) (int $streams.partitions) }}
{{- $errors = append $errors (printf "streams.autoscaling.maxReplicas (%d) exceeds streams.partitions (%d)" (int $streams.autoscaling.maxReplicas) (int $streams.partitions)) }}
{{- end }}
{{- if gt (int $streams.autoscaling.minReplicas) (int $streams.autoscaling.maxReplicas) }}
{{- $errors = append $errors "streams.autoscaling.minReplicas exceeds streams.autoscaling.maxReplicas" }}
{{- end }}
{{- if and (kindIs "invalid" $streams.autoscaling.targetCPUUtilizationPercentage) (kindIs "invalid" $streams.autoscaling.targetMemoryUtilizationPercentage) }}
{{- $errors = append $errors "streams.autoscaling needs a CPU or a memory utilisation target" }}
{{- end }}
{{- end }}
{{- if $errors }}
{{- fail (printf "\n\nVALUES VALIDATION:\n%s" (join "\n" $errors)) }}
{{- end }}
{{- end }}
