/**
 * The Prometheus side of the dashboards and alerts: every PromQL query (dashboard panels, the Prometheus
 * alert rules) parses with Prometheus's own grammar, and names only metrics and labels that exist —
 * the app's metrics as the real instruments create them (src/audit/metrics.ts, driven through a session
 * here), spelled as the Collector's Prometheus exporter spells them, and the Collector's own telemetry.
 * Also: the Prometheus datasource, collector-config/prometheus.yml and its docker-compose.yml service.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import type { Tree } from '@lezer/common';
import { AggregationTemporality, DataPointType, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { AuditMetrics } from '../../src/audit/metrics.js';
import { AuditRecorder } from '../../src/audit/recorder.js';
import { generateAll, repoRoot } from '../../tools/grafana/generate.js';
import {
  APP_METRICS,
  APP_RESOURCE_LABELS,
  COLLECTOR_LABELS,
  COLLECTOR_METRICS,
  PROMETHEUS_UID,
  PROMETHEUS_VERSION,
  SCRAPE_JOBS,
  promBaseName,
  promLabel,
  promSeriesNames,
  type AppMetric,
  type MetricKind,
} from '../../tools/grafana/prometheus.js';
import * as M from '../../src/semconv/metrics.js';

const root = repoRoot();
const files = new Map(generateAll().map((f) => [f.path, f.content]));
const read = (p: string): string => readFileSync(join(root, p), 'utf8');

// ---------------------------------------------------------------- what the app really emits

interface Emitted {
  name: string;
  unit: string;
  kind: MetricKind;
  attributes: Set<string>;
}

/** A session through every metric-emitting path, collected from the real instruments. */
async function emittedMetrics(): Promise<Map<string, Emitted>> {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const recorder = new AuditRecorder({ config: { checkpointEvery: 3 }, metrics: new AuditMetrics(meterProvider.getMeter('oi-audit')) });
  recorder.metrics.lost('spool_full', 2);
  recorder.metrics.exportFailed('logs');
  recorder.metrics.observeSpool([{ signal: 'logs', pendingBytes: () => 10 }]);
  recorder.metrics.redacted({ 'openai-key': 1 });
  const session = recorder.openSession({ userId: 'u', clientAddress: '10.0.0.1', roles: ['dev'], model: 'gpt-4o', policy: 'policy', autoRun: false, openInterpreterVersion: '0.4.3' });
  const turn = session.startTurn('hello');
  const gen = turn.startGeneration({ model: 'gpt-4o', provider: 'openai', stream: true, messages: [{ role: 'user', content: 'hi' }] });
  gen.firstChunk();
  gen.end({ content: 'hello', finishReasons: ['stop'], responseModel: 'gpt-4o-1', responseId: 'r1', inputTokens: 3, outputTokens: 1, chunks: 2, upstreamStatus: 200 });
  turn.startGeneration({ model: 'gpt-4o', provider: 'openai', stream: false, messages: [] }).fail('upstream_500', 'boom');
  const exec = turn.proposeCode({ language: 'python', code: 'print(1)', risk: { level: 'low', rules: [] } });
  exec.decide({ decision: 'approved', decider: 'user' });
  exec.started();
  exec.output('1\n');
  exec.end({ error: true });
  turn.end('complete');
  session.end('complete');
  await reader.forceFlush();
  const out = new Map<string, Emitted>();
  for (const rm of exporter.getMetrics()) {
    for (const sm of rm.scopeMetrics) {
      for (const m of sm.metrics) {
        const kind: MetricKind = m.dataPointType === DataPointType.HISTOGRAM ? 'histogram' : m.dataPointType === DataPointType.SUM && m.isMonotonic ? 'counter' : 'gauge';
        const e = out.get(m.descriptor.name) ?? { name: m.descriptor.name, unit: m.descriptor.unit, kind, attributes: new Set<string>() };
        for (const p of m.dataPoints) for (const k of Object.keys(p.attributes)) e.attributes.add(k);
        out.set(e.name, e);
      }
    }
  }
  await meterProvider.shutdown();
  return out;
}

const SEMCONV_METRICS = Object.entries(M)
  .filter(([k, v]) => k.startsWith('METRIC_') && typeof v === 'string')
  .map(([, v]) => v as string);
const APP = Object.values(APP_METRICS) as AppMetric[];

describe('the app metrics the dashboards read', () => {
  it('cover every metric in the semconv module, and only those', () => {
    expect(APP.map((m) => m.otel).sort()).toEqual([...SEMCONV_METRICS].sort());
  });

  it('have the unit, kind and attributes the real instruments give them', async () => {
    const emitted = await emittedMetrics();
    expect([...emitted.keys()].sort()).toEqual([...SEMCONV_METRICS].sort());
    for (const m of APP) {
      const e = emitted.get(m.otel)!;
      expect({ name: m.otel, unit: m.unit, kind: m.kind }).toEqual({ name: e.name, unit: e.unit, kind: e.kind });
      // Every attribute the app records is one the table knows (so a label filter on it is allowed) …
      for (const a of e.attributes) expect(m.attributes, `${m.otel}: ${a}`).toContain(a);
    }
  });

  it('are spelled as the Collector v0.145 Prometheus exporter spells them (names measured in test/integration/otlp-protobuf-export.test.ts)', () => {
    expect(promSeriesNames(APP_METRICS.tokenUsage)).toEqual(['gen_ai_client_token_usage_bucket', 'gen_ai_client_token_usage_sum', 'gen_ai_client_token_usage_count']);
    expect(promBaseName(APP_METRICS.operationDuration)).toBe('gen_ai_client_operation_duration_seconds');
    expect(promBaseName(APP_METRICS.timeToFirstChunk)).toBe('gen_ai_client_operation_time_to_first_chunk_seconds');
    expect(promBaseName(APP_METRICS.executeToolDuration)).toBe('gen_ai_execute_tool_duration_seconds');
    expect(promBaseName(APP_METRICS.blocks)).toBe('oi_audit_blocks_total');
    expect(promBaseName(APP_METRICS.spoolBytes)).toBe('oi_audit_spool_bytes'); // unit already in the name: not doubled
    expect(promLabel('gen_ai.request.model')).toBe('gen_ai_request_model');
    expect(promBaseName({ otel: 'x.latency', unit: 'ms', kind: 'gauge' })).toBe('x_latency_milliseconds');
    expect(promBaseName({ otel: 'x.ratio', unit: '1', kind: 'gauge' })).toBe('x_ratio');
  });
});

// ---------------------------------------------------------------- the PromQL queries

interface PromQuery {
  where: string;
  text: string;
}

function collectQueries(): PromQuery[] {
  const out: PromQuery[] = [];
  for (const name of ['sessions', 'session', 'security']) {
    const d = JSON.parse(files.get(`grafana/dashboards/${name}.json`)!) as Record<string, any>;
    for (const p of d.panels) for (const t of p.targets ?? []) if (t.datasource?.type === 'prometheus') out.push({ where: `${name}: ${p.title} ${t.refId}`, text: t.expr });
  }
  const rules = parseYaml(files.get('grafana/prometheus-rules/oi-audit.yaml')!) as Record<string, any>;
  for (const g of rules.groups) for (const r of g.rules) out.push({ where: `prometheus rule ${r.alert}`, text: r.expr });
  return out;
}

const QUERIES = collectQueries();

/** Grafana variables → sample values (Grafana interpolates before the query reaches Prometheus). */
function interpolate(q: string): string {
  return q
    .replace(/\$__rate_interval|\$__interval/g, '1m')
    .replace(/\$__range/g, '1h')
    .replace(/\$service/g, 'oi-audit')
    .replace(/\$usd_per_mtok_input/g, '3')
    .replace(/\$usd_per_mtok_output/g, '15');
}

function errorsOf(tree: Tree, text: string): string[] {
  const errs: string[] = [];
  tree.iterate({
    enter(n) {
      if (n.type.isError) errs.push(`error at ${n.from}: …${text.slice(Math.max(0, n.from - 20), n.from + 20)}…`);
    },
  });
  return errs;
}

/** Metric names of vector selectors, and every label name in matchers, `by`/`without` and `on`/`ignoring`. */
function namesOf(tree: Tree, text: string): { metrics: string[]; labels: string[] } {
  const metrics: string[] = [];
  const labels: string[] = [];
  tree.iterate({
    enter(n) {
      if (n.name === 'VectorSelector') {
        const id = n.node.getChild('Identifier');
        if (id) metrics.push(text.slice(id.from, id.to));
      }
      if (n.name === 'LabelName') labels.push(text.slice(n.from, n.to));
    },
  });
  return { metrics, labels };
}

const APP_SERIES = new Map<string, AppMetric>();
for (const m of APP) for (const s of promSeriesNames(m)) APP_SERIES.set(s, m);
const COLLECTOR_SERIES = new Set<string>([...Object.values(COLLECTOR_METRICS), 'up']);

describe('every PromQL query', () => {
  it('was found (dashboard panels and Prometheus rules)', () => {
    expect(QUERIES.length).toBeGreaterThanOrEqual(20);
  });

  it.each(QUERIES.map((q) => [q.where, q] as const))('%s parses with Prometheus\'s grammar', (_w, q) => {
    const text = interpolate(q.text);
    expect(text, 'an uninterpolated Grafana variable').not.toMatch(/\$/);
    expect(errorsOf(promqlParser.parse(text), text)).toEqual([]);
  });

  it.each(QUERIES.map((q) => [q.where, q] as const))('%s names only metrics and labels that exist', (_w, q) => {
    const text = interpolate(q.text);
    const { metrics, labels } = namesOf(promqlParser.parse(text), text);
    expect(metrics.length).toBeGreaterThan(0);
    const allowed = new Set<string>();
    for (const name of metrics) {
      const app = APP_SERIES.get(name);
      expect(app !== undefined || COLLECTOR_SERIES.has(name), `unknown metric ${name}`).toBe(true);
      if (app) {
        for (const a of app.attributes) allowed.add(promLabel(a));
        for (const l of APP_RESOURCE_LABELS) allowed.add(l);
        if (name.endsWith('_bucket')) allowed.add('le');
      } else for (const l of COLLECTOR_LABELS) allowed.add(l);
    }
    for (const l of labels) expect(allowed, `${l} is not a label of ${metrics.join(', ')}`).toContain(l);
  });

  it('the app series filter by the dashboards\' service variable', () => {
    for (const q of QUERIES) {
      const text = interpolate(q.text);
      for (const name of namesOf(promqlParser.parse(text), text).metrics) {
        if (APP_SERIES.has(name)) expect(text, q.where).toContain(`${name}{service_name=~"oi-audit"`);
      }
    }
  });
});

describe('usage, latency and cost panels', () => {
  const sessions = JSON.parse(files.get('grafana/dashboards/sessions.json')!) as Record<string, any>;
  const byTitle = (t: string) => sessions.panels.find((p: any) => p.title === t);

  it('sit in their own row of the Sessions dashboard', () => {
    const row = sessions.panels.find((p: any) => p.type === 'row' && /Usage, latency and cost/.test(p.title));
    expect(row).toBeDefined();
    const after = sessions.panels.filter((p: any) => p.gridPos.y > row.gridPos.y);
    expect(after.length).toBeGreaterThanOrEqual(8);
    for (const p of after) expect(p.datasource.uid).toBe(PROMETHEUS_UID);
  });

  it('token usage by provider, model and token type', () => {
    const t = byTitle('Token usage by model').targets[0];
    expect(t.expr).toMatch(/^sum by \(gen_ai_provider_name, gen_ai_request_model, gen_ai_token_type\) \(rate\(gen_ai_client_token_usage_sum\{/);
  });

  it('LLM call duration p50 and p95 from the histogram buckets', () => {
    const exprs = byTitle('LLM call duration p50 / p95').targets.map((t: any) => t.expr);
    expect(exprs[0]).toMatch(/^histogram_quantile\(0\.5, sum by \(le, gen_ai_request_model\) \(rate\(gen_ai_client_operation_duration_seconds_bucket\{/);
    expect(exprs[1]).toMatch(/^histogram_quantile\(0\.95, /);
  });

  it('cost from the price variables (the metrics carry no prices), input and output priced apart', () => {
    const vars = sessions.templating.list.filter((v: any) => v.type === 'textbox').map((v: any) => v.name);
    expect(vars.sort()).toEqual(['usd_per_mtok_input', 'usd_per_mtok_output']);
    const expr = byTitle('Estimated cost (USD)').targets[0].expr as string;
    expect(expr).toContain('gen_ai_token_type="input"}[$__range]) * $usd_per_mtok_input / 1e6');
    expect(expr).toContain('gen_ai_token_type="output"}[$__range]) * $usd_per_mtok_output / 1e6');
    expect(byTitle('Estimated cost (USD)').description).toMatch(/price variables/);
  });
});

// ---------------------------------------------------------------- datasource, prometheus.yml, compose

describe('Prometheus alert rules', () => {
  const rules = (parseYaml(files.get('grafana/prometheus-rules/oi-audit.yaml')!) as { groups: Array<{ rules: Array<Record<string, any>> }> }).groups[0]!.rules;

  it('carry a severity the Alertmanager routes and a playbook link to a heading of docs/playbooks.md', () => {
    const doc = read('docs/playbooks.md');
    const anchors = new Set([...doc.matchAll(/^#{1,4} (.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^\w\s-]/g, '').replace(/\s/g, '-')));
    expect(rules.map((r) => r.alert)).toEqual(expect.arrayContaining(['OiAuditLokiRefusedRecords', 'OiAuditLokiBacklogStuck']));
    for (const r of rules) {
      expect(['critical', 'high', 'warning']).toContain(r.labels.severity);
      expect(r.labels.source).toBe('oi-audit');
      expect(anchors, `${r.alert} → ${r.annotations.playbook}`).toContain(String(r.annotations.playbook).replace(/^docs\/playbooks\.md#/, ''));
    }
  });

  it('read the Loki exporter\'s refusals and its queue', () => {
    const byName = new Map(rules.map((r) => [r.alert, String(r.expr)]));
    expect(byName.get('OiAuditLokiRefusedRecords')).toContain(`${COLLECTOR_METRICS.sendFailedLogRecords}{job="otelcol", exporter="otlp_http/loki"}`);
    expect(byName.get('OiAuditLokiBacklogStuck')).toContain(COLLECTOR_METRICS.queueSize);
    expect(byName.get('OiAuditLokiBacklogStuck')).toContain(COLLECTOR_METRICS.sentLogRecords);
  });
});

describe('Prometheus provisioning and configuration', () => {
  const ds = parseYaml(files.get('grafana/provisioning/datasources/datasources.yaml')!) as Record<string, any>;
  const prom = parseYaml(read('collector-config/prometheus.yml')) as Record<string, any>;
  const otelcol = read('collector-config/otelcol.yaml');
  const compose = parseYaml(read('docker-compose.yml')) as Record<string, any>;

  it('Grafana has a Prometheus datasource at the compose service', () => {
    const p = ds.datasources.find((d: any) => d.type === 'prometheus');
    expect(p).toMatchObject({ uid: PROMETHEUS_UID, url: 'http://prometheus:9090', access: 'proxy', jsonData: { prometheusVersion: PROMETHEUS_VERSION } });
  });

  it('prometheus.yml scrapes the Collector\'s own telemetry and its prometheus exporter, at the ports otelcol.yaml opens', () => {
    const jobs = new Map((prom.scrape_configs as any[]).map((j) => [j.job_name, j]));
    const selfPort = /OI_AUDIT_METRICS_PORT:-(\d+)/.exec(otelcol)![1];
    const appPort = /OI_AUDIT_PROMETHEUS_ENDPOINT:-0\.0\.0\.0:(\d+)/.exec(otelcol)![1];
    expect(jobs.get(SCRAPE_JOBS.collector).static_configs[0].targets).toEqual([`otel-collector:${selfPort}`]);
    expect(jobs.get(SCRAPE_JOBS.app).static_configs[0].targets).toEqual([`otel-collector:${appPort}`]);
    // The exporter's job/instance (service.name / service.instance.id) must survive the scrape.
    expect(jobs.get(SCRAPE_JOBS.app).honor_labels).toBe(true);
  });

  it('prometheus.yml loads the generated rules and alerts the compose Alertmanager', () => {
    const svc = compose.services.prometheus;
    expect(svc.image).toBe(`prom/prometheus:v${PROMETHEUS_VERSION}`);
    expect(svc.volumes).toContain('./collector-config/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
    expect(svc.volumes).toContain('./grafana/prometheus-rules:/etc/prometheus/rules:ro');
    expect(prom.rule_files).toEqual(['/etc/prometheus/rules/*.yaml']);
    expect(prom.alerting.alertmanagers[0].static_configs[0].targets).toEqual(['alertmanager:9093']);
    expect(compose.services.alertmanager.ports).toContain('9093:9093');
    expect(compose.services.grafana.depends_on.prometheus).toEqual({ condition: 'service_healthy' });
  });
});
