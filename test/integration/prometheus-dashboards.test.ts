/**
 * The usage/latency/cost and audit-pipeline panels against the real thing: an audited app (register(),
 * OTLP) sends its metrics to the real Collector (otelcol.yaml), the real Prometheus scrapes it with
 * collector-config/prometheus.yml (targets on loopback), and every PromQL query of the dashboards and the
 * Prometheus rules is evaluated by that Prometheus: accepted, and the series the panels select exist with
 * the labels they group by, for every metric the app's session produces.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { APP_METRICS, promBaseName, promSeriesNames } from '../../tools/grafana/prometheus.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { ensureCollectorBinary, freePorts, tempDir, waitFor } from '../helpers/collector-stack.js';
import { LOKI_DEFAULT_LIMITS, LokiStandin } from '../helpers/loki-standin.js';
import { otelcolSetup } from '../helpers/otelcol-stack.js';
import { ensurePromTools, loopbackPrometheusConfig, startPrometheus } from '../helpers/prom-tools.js';

const APP = join(REPO_ROOT, 'test/fixtures/otlp-app.mjs');
const SERVICE = `oi-audit-promdash-${Date.now().toString(36)}`;

function runApp(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [APP], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** Every Prometheus query of the generated dashboards and rules, Grafana variables filled in as Grafana would. */
function queries(): Array<{ where: string; expr: string }> {
  const fill = (q: string): string =>
    q
      .replace(/\$__rate_interval|\$__interval/g, '1m')
      .replace(/\$__range/g, '1h')
      .replace(/\$service/g, SERVICE)
      .replace(/\$usd_per_mtok_input/g, '3')
      .replace(/\$usd_per_mtok_output/g, '15');
  const out: Array<{ where: string; expr: string }> = [];
  for (const name of ['sessions', 'security']) {
    const d = JSON.parse(readFileSync(join(REPO_ROOT, `grafana/dashboards/${name}.json`), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ refId: string; expr: string; datasource: { type: string } }> }> };
    for (const p of d.panels) for (const t of p.targets ?? []) if (t.datasource.type === 'prometheus') out.push({ where: `${name}: ${p.title} ${t.refId}`, expr: fill(t.expr) });
  }
  const rules = parseYaml(readFileSync(join(REPO_ROOT, 'grafana/prometheus-rules/oi-audit.yaml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
  for (const r of rules.groups[0]!.rules) out.push({ where: `rule ${r.alert}`, expr: r.expr });
  return out;
}

/** Vector selectors (as written, matchers included) and the labels of `by (…)` clauses. */
function selectorsAndGrouping(expr: string): { selectors: Array<{ metric: string; text: string }>; grouping: string[] } {
  const selectors: Array<{ metric: string; text: string }> = [];
  const grouping: string[] = [];
  promqlParser.parse(expr).iterate({
    enter(n) {
      if (n.name === 'VectorSelector') {
        const id = n.node.getChild('Identifier');
        if (id) selectors.push({ metric: expr.slice(id.from, id.to), text: expr.slice(n.from, n.to) });
      }
      if (n.name === 'GroupingLabels') for (let c = n.node.firstChild; c; c = c.nextSibling) if (c.name === 'LabelName') grouping.push(expr.slice(c.from, c.to));
    },
  });
  return { selectors, grouping };
}

describe('dashboard PromQL on the real Prometheus, fed by the real Collector', () => {
  const stops: Array<() => Promise<unknown>> = [];
  let promUrl: string;

  const api = async (path: string, params: Record<string, string>): Promise<any> => {
    const r = await fetch(`${promUrl}${path}?${new URLSearchParams(params).toString()}`);
    const body = (await r.json()) as { status: string; error?: string; data: unknown };
    return body;
  };

  beforeAll(async () => {
    const [tools] = await Promise.all([ensurePromTools(), ensureCollectorBinary()]);
    const dir = tempDir('prom-dashboards');
    const [deadAm, promPort] = await freePorts(2);
    const loki = await LokiStandin.start({ limits: { ...LOKI_DEFAULT_LIMITS } });
    stops.push(() => loki.stop());
    // Tempo and the SIEM point at closed ports; no Alertmanager either.
    const setup = await otelcolSetup(dir, { fanout: { loki: loki.url }, prometheus: true });
    const collector = await setup.start('otelcol-prom-dashboards');
    stops.push(() => collector.stop());
    const promConfig = loopbackPrometheusConfig(
      dir,
      { collectorMetrics: setup.ports.metrics, collectorPrometheus: setup.ports.prometheus!, alertmanager: deadAm! },
      [join(REPO_ROOT, 'grafana/prometheus-rules/*.yaml')],
    );
    const prom = await startPrometheus(tools, promConfig, promPort!, join(dir, 'prom-data'));
    stops.push(() => prom.stop());
    promUrl = `http://127.0.0.1:${promPort}`;

    const result = await runApp({ OTEL_EXPORTER_OTLP_ENDPOINT: setup.otlpUrl, OTEL_SERVICE_NAME: SERVICE, OI_AUDIT_SPOOL_DIR: join(dir, 'spool') });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    // The app's series are in Prometheus once a scrape after the app's final export has run.
    await waitFor(
      async () => {
        const r = await api('/api/v1/query', { query: `${promBaseName(APP_METRICS.blocks)}{service_name="${SERVICE}"}` });
        return r.data?.result?.length > 0;
      },
      { timeoutMs: 60_000, intervalMs: 1000, what: `the app's metrics scraped into Prometheus (service ${SERVICE})` },
    );
    // The Collector's own series (e.g. the Loki exporter's queue size) appear a scrape or two after its first
    // export: wait for every one the panels select, so the checks below do not race the scrape.
    const collectorSelectors = [...new Set(queries().flatMap((q) => selectorsAndGrouping(q.expr).selectors.filter((sel) => sel.metric.startsWith('otelcol_')).map((sel) => sel.text)))];
    await waitFor(
      async () => {
        for (const text of collectorSelectors) {
          const r = await api('/api/v1/series', { 'match[]': text });
          if (!((r.data as unknown[] | undefined)?.length)) return false;
        }
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 1000, what: `the Collector's own series scraped (${collectorSelectors.length} selectors)` },
    );
  }, 300_000);

  afterAll(async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  });

  it('the token counts the app recorded are what Prometheus holds (input 21, output 7)', async () => {
    const sum = `${promBaseName(APP_METRICS.tokenUsage)}_sum`;
    for (const [type, want] of [['input', '21'], ['output', '7']] as const) {
      const r = await api('/api/v1/query', { query: `sum(${sum}{service_name="${SERVICE}", gen_ai_token_type="${type}"})` });
      expect(r.data.result[0]?.value[1], type).toBe(want);
    }
  });

  it.each(queries().map((q) => [q.where, q] as const))('%s: accepted by Prometheus', async (_w, q) => {
    const r = await api('/api/v1/query', { query: q.expr });
    expect(r.error, q.expr).toBeUndefined();
    expect(r.status).toBe('success');
  });

  it('every series a panel selects exists, with the labels the panel groups by', async () => {
    // The fixture's session records these (no losses, export failures, redactions or spool: unit-tested only).
    const inSession = new Set([APP_METRICS.tokenUsage, APP_METRICS.operationDuration, APP_METRICS.timeToFirstChunk, APP_METRICS.executeToolDuration, APP_METRICS.blocks].flatMap((m) => promSeriesNames(m)));
    const checked = new Set<string>();
    for (const q of queries()) {
      const { selectors, grouping } = selectorsAndGrouping(q.expr);
      const labelsSeen = new Set<string>();
      let fromSession = false;
      for (const s of selectors) {
        if (!inSession.has(s.metric) && !s.metric.startsWith('otelcol_')) continue;
        fromSession ||= inSession.has(s.metric);
        const r = await api('/api/v1/series', { 'match[]': s.text });
        expect(r.status, s.text).toBe('success');
        expect((r.data as unknown[]).length, `${q.where}: no series for ${s.text}`).toBeGreaterThan(0);
        for (const series of r.data as Array<Record<string, string>>) for (const k of Object.keys(series)) labelsSeen.add(k);
        checked.add(s.metric);
      }
      if (fromSession) for (const l of grouping) expect(labelsSeen, `${q.where}: groups by ${l}`).toContain(l);
    }
    expect([...checked].filter((m) => inSession.has(m)).length).toBeGreaterThanOrEqual(6);
    expect([...checked].some((m) => m.startsWith('otelcol_'))).toBe(true);
  });
});
