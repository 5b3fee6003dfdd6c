/**
 * PromQL building blocks for the usage/latency/cost row and the audit-pipeline panels.
 *
 * The app's OTLP metrics reach Prometheus through the Collector's `prometheus/metrics` exporter
 * (collector-config/otelcol.yaml), which names them by the OTLP-to-Prometheus rules of the Collector
 * v0.145 (the default `UnderscoreEscapingWithSuffixes`): characters outside [A-Za-z0-9_:] become `_`;
 * the unit, without `{…}` annotations and spelled out (`s` → `seconds`, `By` → `bytes`), is appended
 * unless the name already ends with it; monotonic sums get `_total`; histograms are the series
 * `_bucket`, `_sum` and `_count`. Attribute keys become labels the same way, and with
 * `resource_to_telemetry_conversion` so do resource attributes (`service_name`).
 * The Collector's own telemetry (`otelcol_*`, scraped from its :8888) is named by the Collector itself.
 */
import * as A from '../../src/semconv/attributes.js';
import * as M from '../../src/semconv/metrics.js';

export const PROMETHEUS_UID = 'prometheus';

export type MetricKind = 'histogram' | 'counter' | 'gauge';

export interface AppMetric {
  /** The OTel instrument name (src/semconv/metrics.ts). */
  otel: string;
  /** The instrument's unit (UCUM, as src/audit/metrics.ts creates it). */
  unit: string;
  kind: MetricKind;
  /** Attribute keys the app records on it (src/audit/metrics.ts). */
  attributes: readonly string[];
}

/** UCUM units the translator spells out (otlptranslator's unit map, the ones oi-audit uses and neighbours). */
const UNIT_WORDS: Record<string, string> = { s: 'seconds', ms: 'milliseconds', By: 'bytes', KiBy: 'kibibytes', MiBy: 'mebibytes', '%': 'percent' };

/** Prometheus label / metric-name spelling of an OTel name. */
export function promLabel(otel: string): string {
  return otel.replace(/[^A-Za-z0-9_]/g, '_').replace(/__+/g, '_');
}

/** The Prometheus base name (before `_bucket`/`_sum`/`_count`) the Collector exposes an app metric under. */
export function promBaseName(m: Pick<AppMetric, 'otel' | 'unit' | 'kind'>): string {
  let name = promLabel(m.otel);
  const unit = m.unit.replace(/\{[^}]*\}/g, '').trim();
  const word = unit === '' || unit === '1' ? '' : (UNIT_WORDS[unit] ?? promLabel(unit));
  if (word && !name.endsWith(`_${word}`)) name = `${name}_${word}`;
  if (m.kind === 'counter') name = `${name}_total`;
  return name;
}

/** Every series name an app metric appears as in a scrape. */
export function promSeriesNames(m: Pick<AppMetric, 'otel' | 'unit' | 'kind'>): string[] {
  const base = promBaseName(m);
  return m.kind === 'histogram' ? [`${base}_bucket`, `${base}_sum`, `${base}_count`] : [base];
}

const GENAI = [A.ATTR_GEN_AI_OPERATION_NAME, A.ATTR_GEN_AI_PROVIDER_NAME, A.ATTR_GEN_AI_REQUEST_MODEL, A.ATTR_GEN_AI_RESPONSE_MODEL] as const;

/** The app metrics the dashboards read, with the unit, kind and attributes src/audit/metrics.ts gives them. */
export const APP_METRICS = {
  tokenUsage: { otel: M.METRIC_GEN_AI_CLIENT_TOKEN_USAGE, unit: '{token}', kind: 'histogram', attributes: [...GENAI, A.ATTR_GEN_AI_TOKEN_TYPE] },
  operationDuration: { otel: M.METRIC_GEN_AI_CLIENT_OPERATION_DURATION, unit: 's', kind: 'histogram', attributes: [...GENAI, A.ATTR_ERROR_TYPE] },
  timeToFirstChunk: { otel: M.METRIC_GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK, unit: 's', kind: 'histogram', attributes: [...GENAI] },
  executeToolDuration: { otel: M.METRIC_GEN_AI_EXECUTE_TOOL_DURATION, unit: 's', kind: 'histogram', attributes: [A.ATTR_GEN_AI_OPERATION_NAME, A.ATTR_GEN_AI_TOOL_NAME, A.ATTR_CODE_LANGUAGE, A.ATTR_ERROR_TYPE] },
  blocks: { otel: M.METRIC_AUDIT_BLOCKS, unit: '{block}', kind: 'counter', attributes: [A.ATTR_APPROVAL_DECISION, A.ATTR_APPROVAL_DECIDER, A.ATTR_RISK_LEVEL] },
  redactions: { otel: M.METRIC_AUDIT_REDACTIONS, unit: '{match}', kind: 'counter', attributes: [A.ATTR_REDACTION_RULE] },
  recordsLost: { otel: M.METRIC_AUDIT_RECORDS_LOST, unit: '{record}', kind: 'counter', attributes: [A.ATTR_AUDIT_LOSS_REASON] },
  exportFailures: { otel: M.METRIC_AUDIT_EXPORT_FAILURES, unit: '{request}', kind: 'counter', attributes: [A.ATTR_AUDIT_SIGNAL] },
  spoolBytes: { otel: M.METRIC_AUDIT_SPOOL_BYTES, unit: 'By', kind: 'gauge', attributes: [A.ATTR_AUDIT_SIGNAL] },
} as const satisfies Record<string, AppMetric>;

/** Labels every app series has besides its attributes: resource attributes, and job/instance from the exporter. */
export const APP_RESOURCE_LABELS = [promLabel(A.ATTR_SERVICE_NAME), 'job', 'instance'] as const;

/**
 * The Collector's own telemetry the panels and the Loki-refusal alert read (service.telemetry, level
 * normal; exporterhelper metrics carry an `exporter` label with the exporter's id).
 * test/integration/alert-delivery.test.ts checks each name against a real Collector's scrape.
 */
export const COLLECTOR_METRICS = {
  sentLogRecords: 'otelcol_exporter_sent_log_records_total',
  sendFailedLogRecords: 'otelcol_exporter_send_failed_log_records_total',
  queueSize: 'otelcol_exporter_queue_size',
  queueCapacity: 'otelcol_exporter_queue_capacity',
} as const;
export const COLLECTOR_LABELS = ['exporter', 'job', 'instance', 'service_instance_id', 'service_name', 'service_version', 'data_type'] as const;

/** The Prometheus scrape jobs of collector-config/prometheus.yml. */
export const SCRAPE_JOBS = { app: 'oi-audit-app-metrics', collector: 'otelcol' } as const;

/** The Collector's Loki exporter, as its own metrics label it. */
export const LOKI_EXPORTER = 'otlp_http/loki';

const SVC = `${promLabel(A.ATTR_SERVICE_NAME)}=~"$service"`;

/** `name{service_name=~"$service", extra…}` for an app series. */
export function appSelector(series: string, ...matchers: string[]): string {
  return `${series}{${[SVC, ...matchers].join(', ')}}`;
}

export function histogramQuantile(q: number, m: AppMetric, by: string[], range = '$__rate_interval'): string {
  const bucket = appSelector(`${promBaseName(m)}_bucket`);
  return `histogram_quantile(${q}, sum by (${['le', ...by].join(', ')}) (rate(${bucket}[${range}])))`;
}

/**
 * Estimated spend: tokens of each type times the dashboard's price variables (USD per million tokens).
 * The metrics carry no prices (the GenAI conventions define none), so the price is the user's input;
 * `or` keeps input and output series apart (they differ in gen_ai_token_type) before they are summed.
 */
export function estimatedCost(range: string, by: string[] = []): string {
  const sum = `${promBaseName(APP_METRICS.tokenUsage)}_sum`;
  const type = promLabel(A.ATTR_GEN_AI_TOKEN_TYPE);
  const part = (t: string, price: string): string => `increase(${appSelector(sum, `${type}="${t}"`)}[${range}]) * ${price} / 1e6`;
  const agg = by.length > 0 ? `sum by (${by.join(', ')})` : 'sum';
  return `${agg} (${part('input', '$usd_per_mtok_input')} or ${part('output', '$usd_per_mtok_output')})`;
}

/** The Prometheus docker-compose.yml runs (and scripts/build-prom-tools.sh builds for the tests). */
export const PROMETHEUS_VERSION = '3.16.0';

export interface PromAlert {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/**
 * Alerts on the Collector's own telemetry, for what Loki's ruler cannot see: records that never reached
 * Loki. Two ways they fail to: Loki refuses them for good (HTTP 400: too old, too far in the future,
 * line too long) — the exporter drops them and counts `send_failed`; or Loki refuses every push with a
 * retryable status (503 message too large, 429 rate limit, Loki down) — the exporter retries forever,
 * counts nothing as failed, and the queue only grows.
 */
export function prometheusAlerts(): PromAlert[] {
  const sel = `{job="${SCRAPE_JOBS.collector}", exporter="${LOKI_EXPORTER}"}`;
  const failed = `${COLLECTOR_METRICS.sendFailedLogRecords}${sel}`;
  return [
    {
      alert: 'OiAuditLokiRefusedRecords',
      // The second branch: a counter first seen above 0 (the Collector's first pushes were refused), which
      // increase() cannot see; it keeps firing for 10 minutes after Prometheus (re)starts, not longer.
      expr: `sum by (instance) (increase(${failed}[10m])) > 0 or sum by (instance) (${failed} unless ${failed} offset 10m) > 0`,
      labels: { severity: 'high', source: 'oi-audit' },
      annotations: {
        summary: 'Loki refused {{ $value }} audit records in 10 minutes (Collector {{ $labels.instance }})',
        description: 'The Collector\'s Loki exporter dropped records Loki answered with a permanent error (400: older than the out-of-order window, more than creation_grace_period in the future, or too long). They are missing from Loki, its dashboards and its ruler alerts; the archive and the SIEM still hold them. Find the Collector log line "Exporting failed. Dropping data." and the affected sessions with `oi-audit verify` on their Loki export.',
        playbook: 'docs/playbooks.md#loki-refused-audit-records',
      },
    },
    {
      alert: 'OiAuditLokiBacklogStuck',
      expr: `(sum by (instance) (${COLLECTOR_METRICS.queueSize}${sel}) > 0) and (sum by (instance) (rate(${COLLECTOR_METRICS.sentLogRecords}${sel}[5m])) == 0)`,
      for: '10m',
      labels: { severity: 'high', source: 'oi-audit' },
      annotations: {
        summary: '{{ $value }} audit records queued for Loki and none sent for 10 minutes (Collector {{ $labels.instance }})',
        description: 'Loki is down or refuses every push with a retryable status (503 message larger than max, 429 ingestion rate limit), so the queue does not drain and Loki-based alerts are blind to new records. Nothing is lost (the queue is on disk; archive and SIEM are separate), but check Loki and its limits (docs/collector.md, "Loki\'s limits and the backlog after an outage").',
        playbook: 'docs/playbooks.md#loki-refused-audit-records',
      },
    },
    {
      alert: 'OiAuditCollectorQueueFilling',
      expr: `max by (instance, exporter) (${COLLECTOR_METRICS.queueSize}{job="${SCRAPE_JOBS.collector}"} / ${COLLECTOR_METRICS.queueCapacity}{job="${SCRAPE_JOBS.collector}"}) > 0.8`,
      for: '5m',
      labels: { severity: 'critical', source: 'oi-audit' },
      annotations: {
        summary: 'Collector {{ $labels.instance }}: the queue of {{ $labels.exporter }} is over 80% full',
        description: 'When a sending queue is full the Collector refuses new records from the apps, which then spool them and, once the spool is full, declare them lost. Bring the back end of this exporter back, or raise its queue_size.',
        playbook: 'docs/playbooks.md#loki-refused-audit-records',
      },
    },
    {
      alert: 'OiAuditCollectorDown',
      expr: `up{job="${SCRAPE_JOBS.collector}"} == 0`,
      for: '2m',
      labels: { severity: 'critical', source: 'oi-audit' },
      annotations: {
        summary: 'Prometheus cannot scrape the Collector {{ $labels.instance }}',
        description: 'The Collector is down or unreachable: apps spool their records until it is back (and declare losses when the spool is full). Check the Collector container and its health endpoint (:13133).',
        playbook: 'docs/playbooks.md#audit-loss',
      },
    },
  ];
}

/** The Prometheus rule file (grafana/prometheus-rules/oi-audit.yaml). */
export function prometheusRules(): Record<string, unknown> {
  return { groups: [{ name: 'oi-audit-pipeline', interval: '30s', rules: prometheusAlerts() }] };
}
