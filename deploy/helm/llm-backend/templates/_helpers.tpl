{{/* Names and labels shared by every manifest. */}}
{{- define "llm-backend.fullname" -}}
{{ .Release.Name }}
{{- end }}

{{- define "llm-backend.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "llm-backend.labels" -}}
{{ include "llm-backend.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "llm-backend.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The environment both roles and the migration Job share: secrets by reference only. */}}
{{- define "llm-backend.env" -}}
- name: CONFIG_FILE
  value: /etc/llm-backend/llm-backend.yaml
- name: DATA_DIR
  value: /data
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: MASTER_KEY
  valueFrom:
    secretKeyRef:
      name: {{ .Values.existingSecret }}
      key: master-key
- name: MASTER_KEY_PREVIOUS
  valueFrom:
    secretKeyRef:
      name: {{ .Values.existingSecret }}
      key: master-key-previous
      optional: true
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.existingSecret }}
      key: database-url
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.existingSecret }}
      key: redis-url
{{- if .Values.extraEnv }}
{{ toYaml .Values.extraEnv }}
{{- end }}
{{- end }}

{{/* The config file and the two writable directories of a read-only root filesystem. */}}
{{- define "llm-backend.volumes" -}}
- name: config
  configMap:
    name: {{ include "llm-backend.fullname" . }}-config
- name: data
  emptyDir: {}
- name: tmp
  emptyDir: {}
{{- end }}

{{- define "llm-backend.volumeMounts" -}}
- name: config
  mountPath: /etc/llm-backend
  readOnly: true
- name: data
  mountPath: /data
- name: tmp
  mountPath: /tmp
{{- end }}
