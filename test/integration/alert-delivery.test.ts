/**
 * Alerts reach someone. The real Alertmanager (scripts/build-prom-tools.sh, the version docker-compose.yml
 * pins) runs collector-config/alertmanager.yml unchanged except for the webhook URL file, with a loopback
 * webhook as the receiver.
 *
 * 1. Loki ruler alerts: Loki's ruler cannot run here (Loki is AGPL-3.0, its modules are not used), so the
 *    test posts what the ruler posts — Alertmanager's v2 API, `POST /api/v2/alerts`, the rule's labels plus
 *    the series labels of the LogQL result (session_id) and its expanded annotations — for rules of the
 *    generated grafana/loki-rules/oi-audit.yaml, and checks the routing the config promises: one webhook
 *    notification per alert and session (group_by), labels and annotations (playbook) intact, critical
 *    alerts on their own route, resolution sent.
 * 2. The Loki-refusal alert end to end: the real Collector (otelcol.yaml) pushes records a Loki stand-in
 *    refuses for good (400 too_far_in_future), the real Prometheus runs collector-config/prometheus.yml
 *    (targets on loopback) with grafana/prometheus-rules/, and OiAuditLokiRefusedRecords reaches the webhook.
 * 3. promtool accepts prometheus.yml and the rules, and its rule unit tests show when each alert fires.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { COLLECTOR_METRICS, LOKI_EXPORTER, SCRAPE_JOBS } from '../../tools/grafana/prometheus.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { ensureCollectorBinary, freePorts, logsRequest, makeAuditRecords, postOtlpJson, scrapeCounter, tempDir, waitFor } from '../helpers/collector-stack.js';
import { LOKI_DEFAULT_LIMITS, LokiStandin } from '../helpers/loki-standin.js';
import { otelcolSetup } from '../helpers/otelcol-stack.js';
import {
  ensurePromTools,
  loopbackPrometheusConfig,
  startAlertmanager,
  startPrometheus,
  startWebhook,
  type PromTools,
  type WebhookPayload,
  type WebhookReceiver,
} from '../helpers/prom-tools.js';

interface RuleDoc {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

const lokiRules = (parseYaml(readFileSync(join(REPO_ROOT, 'grafana/loki-rules/oi-audit.yaml'), 'utf8')) as { groups: Array<{ rules: RuleDoc[] }> }).groups[0]!.rules;
const PROM_RULES_DIR = join(REPO_ROOT, 'grafana/prometheus-rules');
const PROM_RULES_FILE = join(PROM_RULES_DIR, 'oi-audit.yaml');

/** Alertmanager config of the repository, the webhook URL file moved to `urlFile`. Nothing else changes. */
function alertmanagerConfig(dir: string, webhookUrl: string): string {
  const text = readFileSync(join(REPO_ROOT, 'collector-config/alertmanager.yml'), 'utf8');
  expect(text.match(/url_file: \/etc\/alertmanager\/webhook-url/g)).toHaveLength(1);
  const urlFile = join(dir, 'webhook-url');
  writeFileSync(urlFile, `${webhookUrl}\n`, { mode: 0o600 });
  const cfg = join(dir, 'alertmanager.yml');
  writeFileSync(cfg, text.replace('url_file: /etc/alertmanager/webhook-url', `url_file: ${urlFile}`));
  return cfg;
}

/** What Loki's ruler sends for a firing rule: alertname, the rule's labels, the result's series labels, expanded annotations. */
function rulerAlert(rule: RuleDoc, series: Record<string, string>, value: string, endsAt?: Date): Record<string, unknown> {
  const labels = { alertname: rule.alert, ...rule.labels, ...series };
  const expand = (t: string): string => t.replace(/\{\{ \$labels\.([a-z_]+) \}\}/g, (_m, k: string) => labels[k as keyof typeof labels] ?? '').replace(/\{\{ \$value \}\}/g, value);
  const annotations = Object.fromEntries(Object.entries(rule.annotations).map(([k, v]) => [k, expand(v)]));
  const alert: Record<string, unknown> = { labels, annotations, startsAt: new Date(Date.now() - 60_000).toISOString(), generatorURL: `http://loki:3100/loki/api/v1/rules?alert=${rule.alert}` };
  alert.endsAt = (endsAt ?? new Date(Date.now() + 3_600_000)).toISOString();
  return alert;
}

async function postAlerts(amPort: number, alerts: unknown[]): Promise<void> {
  const r = await fetch(`http://127.0.0.1:${amPort}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts) });
  expect(r.status, await r.text()).toBe(200);
}

function notificationsFor(hook: WebhookReceiver, pred: (p: WebhookPayload) => boolean): WebhookPayload[] {
  return hook.received.map((r) => r.payload).filter(pred);
}

describe('alerts reach the webhook receiver through the real Alertmanager', () => {
  const stops: Array<() => Promise<unknown>> = [];
  let tools: PromTools;
  let hook: WebhookReceiver;
  let amPort: number;
  const run = `ad${Date.now().toString(36)}`;

  beforeAll(async () => {
    tools = await ensurePromTools();
    const dir = tempDir('alert-delivery');
    hook = await startWebhook();
    stops.push(() => hook.stop());
    amPort = (await freePorts(1))[0]!;
    const am = await startAlertmanager(tools, alertmanagerConfig(dir, hook.url), amPort!, join(dir, 'am-data'));
    stops.push(() => am.stop());
  });

  afterAll(async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  });

  it('a critical Loki rule alert is delivered once per session, with the rule\'s labels and playbook, and its resolution', async () => {
    const rule = lokiRules.find((r) => r.labels.severity === 'critical' && r.labels.rule_id)!;
    expect(rule).toBeDefined();
    const sessions = [`${run}-s1`, `${run}-s2`];
    await postAlerts(amPort, sessions.map((s) => rulerAlert(rule, { session_id: s }, '1')));
    const firing = await waitFor(
      () => {
        const got = notificationsFor(hook, (p) => p.status === 'firing' && p.groupLabels.alertname === rule.alert);
        return got.length >= 2 ? got : undefined;
      },
      { timeoutMs: 60_000, what: `two firing notifications for ${rule.alert}` },
    );
    // group_by [alertname, session_id]: one notification per session, never merged.
    expect(firing.map((p) => p.groupLabels.session_id).sort()).toEqual(sessions);
    for (const p of firing) {
      expect(p.version).toBe('4');
      expect(p.receiver).toBe('security-webhook');
      expect(p.alerts).toHaveLength(1);
      const a = p.alerts[0]!;
      expect(a.labels).toMatchObject({ alertname: rule.alert, severity: 'critical', source: 'oi-audit', rule_id: rule.labels.rule_id, session_id: p.groupLabels.session_id });
      expect(a.annotations.playbook).toBe(rule.annotations.playbook);
      expect(a.annotations.summary).toContain(p.groupLabels.session_id);
      expect(a.annotations.summary).not.toContain('{{');
    }
    // Resolved (send_resolved: true): the ruler stops sending, and its last post carries an end in the past.
    await postAlerts(amPort, [rulerAlert(rule, { session_id: sessions[0]! }, '1', new Date(Date.now() - 1000))]);
    const resolved = await waitFor(
      () => notificationsFor(hook, (p) => p.status === 'resolved' && p.groupLabels.session_id === sessions[0]).at(0),
      { timeoutMs: 150_000, intervalMs: 1000, what: `the resolved notification for ${sessions[0]}` },
    );
    expect(resolved.alerts[0]!.labels.alertname).toBe(rule.alert);
  }, 240_000);

  it('a warning alert (no route of its own) reaches the same receiver through the root route', async () => {
    const rule = lokiRules.find((r) => r.alert === 'OiAuditPolicyRefusalBurst')!;
    expect(rule.labels.severity).toBe('warning');
    await postAlerts(amPort, [rulerAlert(rule, { session_id: `${run}-w` }, '3')]);
    const got = await waitFor(
      () => notificationsFor(hook, (p) => p.groupLabels.alertname === rule.alert && p.groupLabels.session_id === `${run}-w`).at(0),
      { timeoutMs: 90_000, intervalMs: 500, what: `the ${rule.alert} notification` },
    );
    expect(got.receiver).toBe('security-webhook');
    expect(got.alerts[0]!.annotations.summary).toBe(`3 code blocks refused in 10 minutes in session ${run}-w`);
  });

  it('the Alertmanager holds the alerts still firing (the resolved one is gone), all sent to the configured URL', async () => {
    const r = await fetch(`http://127.0.0.1:${amPort}/api/v2/alerts?filter=source%3D%22oi-audit%22`);
    const alerts = (await r.json()) as Array<{ labels: Record<string, string> }>;
    expect(alerts.map((a) => a.labels.session_id).filter((s) => s?.startsWith(run)).sort()).toEqual([`${run}-s2`, `${run}-w`]);
    expect(hook.received.length).toBeGreaterThanOrEqual(4);
    expect(hook.received.every((x) => x.path === '/hooks/oi-audit')).toBe(true);
  });
});

describe('promtool: prometheus.yml and the Prometheus rules', () => {
  let tools: PromTools;
  beforeAll(async () => {
    tools = await ensurePromTools();
  });

  const promtool = (...args: string[]) => spawnSync(tools.promtool, args, { encoding: 'utf8', cwd: REPO_ROOT });

  it('check rules accepts the generated rule file', () => {
    const r = promtool('check', 'rules', PROM_RULES_FILE);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: 4 rules found/);
  });

  it('check config accepts collector-config/prometheus.yml (rule files where the compose service mounts them)', () => {
    const dir = tempDir('promtool-config');
    const cfg = parseYaml(readFileSync(join(REPO_ROOT, 'collector-config/prometheus.yml'), 'utf8')) as Record<string, any>;
    expect(cfg.rule_files).toEqual(['/etc/prometheus/rules/*.yaml']);
    cfg.rule_files = [join(PROM_RULES_DIR, '*.yaml')];
    writeFileSync(join(dir, 'prometheus.yml'), stringify(cfg));
    const r = promtool('check', 'config', join(dir, 'prometheus.yml'));
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('test rules: the Loki-refusal alerts fire when they should, and only then', () => {
    const dir = tempDir('promtool-test');
    const sel = (m: string) => `${m}{job="${SCRAPE_JOBS.collector}", instance="otel-collector:8888", exporter="${LOKI_EXPORTER}"}`;
    const promRules = (parseYaml(readFileSync(PROM_RULES_FILE, 'utf8')) as { groups: Array<{ rules: RuleDoc[] }> }).groups[0]!.rules;
    // promtool compares labels and annotations: the rule's own, its templates expanded for this case.
    const alertOf = (name: string, labels: Record<string, string>, value = '') => {
      const rule = promRules.find((r) => r.alert === name)!;
      const all: Record<string, string> = { ...rule.labels, ...labels };
      const expand = (t: string): string => t.replace(/\{\{ \$labels\.([a-z_]+) \}\}/g, (_m, k: string) => all[k] ?? '').replace(/\{\{ \$value \}\}/g, value);
      return { exp_labels: all, exp_annotations: Object.fromEntries(Object.entries(rule.annotations).map(([k, v]) => [k, expand(v)])) };
    };
    const tests = {
      rule_files: [PROM_RULES_FILE],
      evaluation_interval: '30s',
      tests: [
        {
          // Refused records while the Collector runs: the counter rises from 0.
          interval: '30s',
          input_series: [{ series: sel(COLLECTOR_METRICS.sendFailedLogRecords), values: '0x20 0 12 12x40' }],
          alert_rule_test: [
            { eval_time: '5m', alertname: 'OiAuditLokiRefusedRecords', exp_alerts: [] },
            { eval_time: '12m', alertname: 'OiAuditLokiRefusedRecords', exp_alerts: [alertOf('OiAuditLokiRefusedRecords', { instance: 'otel-collector:8888' }, '12')] },
            { eval_time: '25m', alertname: 'OiAuditLokiRefusedRecords', exp_alerts: [] }, // no new refusals for 10 min
          ],
        },
        {
          // The Collector's very first pushes were refused: the counter appears at 7, which increase() cannot see.
          interval: '30s',
          input_series: [{ series: sel(COLLECTOR_METRICS.sendFailedLogRecords), values: '_x20 7x40' }],
          alert_rule_test: [
            { eval_time: '5m', alertname: 'OiAuditLokiRefusedRecords', exp_alerts: [] },
            { eval_time: '11m', alertname: 'OiAuditLokiRefusedRecords', exp_alerts: [alertOf('OiAuditLokiRefusedRecords', { instance: 'otel-collector:8888' }, '7')] },
          ],
        },
        {
          // Loki answers 503 forever: records queue up, nothing is sent, nothing counts as failed.
          interval: '30s',
          input_series: [
            { series: sel(COLLECTOR_METRICS.queueSize), values: '0x10 500+50x60' },
            { series: sel(COLLECTOR_METRICS.sentLogRecords), values: '0+100x10 1000x60' },
            { series: sel(COLLECTOR_METRICS.sendFailedLogRecords), values: '0x70' },
          ],
          alert_rule_test: [
            { eval_time: '10m', alertname: 'OiAuditLokiBacklogStuck', exp_alerts: [] }, // queued, but not for 10 min yet
            { eval_time: '22m', alertname: 'OiAuditLokiBacklogStuck', exp_alerts: [alertOf('OiAuditLokiBacklogStuck', { instance: 'otel-collector:8888' }, '2150')] },
            { eval_time: '22m', alertname: 'OiAuditLokiRefusedRecords', exp_alerts: [] },
          ],
        },
        {
          // A backlog that drains (records sent every interval) is not stuck.
          interval: '30s',
          input_series: [
            { series: sel(COLLECTOR_METRICS.queueSize), values: '5000-10x60' },
            { series: sel(COLLECTOR_METRICS.sentLogRecords), values: '0+10x60' },
          ],
          alert_rule_test: [{ eval_time: '25m', alertname: 'OiAuditLokiBacklogStuck', exp_alerts: [] }],
        },
        {
          interval: '30s',
          input_series: [
            { series: sel(COLLECTOR_METRICS.queueSize), values: '900x30' },
            { series: sel(COLLECTOR_METRICS.queueCapacity), values: '1000x30' },
          ],
          alert_rule_test: [
            { eval_time: '4m', alertname: 'OiAuditCollectorQueueFilling', exp_alerts: [] },
            { eval_time: '6m', alertname: 'OiAuditCollectorQueueFilling', exp_alerts: [alertOf('OiAuditCollectorQueueFilling', { instance: 'otel-collector:8888', exporter: LOKI_EXPORTER })] },
          ],
        },
      ],
    };
    writeFileSync(join(dir, 'rules.test.yml'), stringify(tests));
    const r = promtool('test', 'rules', join(dir, 'rules.test.yml'));
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS/);
  });
});

describe('Loki refuses records: the Prometheus alert reaches the webhook (real Collector, Prometheus, Alertmanager)', () => {
  const stops: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  });

  it('OiAuditLokiRefusedRecords fires for records Loki refuses as too far in the future', async () => {
    const [tools] = await Promise.all([ensurePromTools(), ensureCollectorBinary()]);
    const dir = tempDir('loki-refusal-alert');
    const [amPort, promPort] = await freePorts(2);
    const hook = await startWebhook();
    stops.push(() => hook.stop());
    const am = await startAlertmanager(tools, alertmanagerConfig(dir, hook.url), amPort!, join(dir, 'am-data'));
    stops.push(() => am.stop());
    const loki = await LokiStandin.start({ limits: { ...LOKI_DEFAULT_LIMITS } });
    stops.push(() => loki.stop());
    // Tempo and the SIEM point at closed ports.
    const setup = await otelcolSetup(dir, { fanout: { loki: loki.url }, prometheus: true });
    const collector = await setup.start('otelcol-loki-refusal');
    stops.push(() => collector.stop());
    const cMetrics = setup.ports.metrics;

    // The repository's rules, evaluated every 2 s (test pacing only).
    const rulesDir = join(dir, 'rules');
    mkdirSync(rulesDir);
    const rules = parseYaml(readFileSync(PROM_RULES_FILE, 'utf8')) as Record<string, any>;
    rules.groups[0].interval = '2s';
    writeFileSync(join(rulesDir, 'oi-audit.yaml'), stringify(rules));
    const promConfig = loopbackPrometheusConfig(dir, { collectorMetrics: cMetrics, collectorPrometheus: setup.ports.prometheus!, alertmanager: amPort! }, [join(rulesDir, '*.yaml')]);
    const prom = await startPrometheus(tools, promConfig, promPort!, join(dir, 'prom-data'));
    stops.push(() => prom.stop());

    // Records two hours in the future: past Loki's creation_grace_period, a permanent 400 (too_far_in_future).
    const future = BigInt(Date.now() + 2 * 3_600_000) * 1_000_000n;
    const records = makeAuditRecords(1, 5, { runId: `lr${Date.now().toString(36)}` }).map((r, i) => ({ ...r, timeUnixNano: String(future + BigInt(i)) }));
    await postOtlpJson(setup.otlpUrl, '/v1/logs', logsRequest(records));
    const failed = await waitFor(
      async () => {
        const n = await scrapeCounter(setup.metricsUrl, COLLECTOR_METRICS.sendFailedLogRecords, { exporter: LOKI_EXPORTER });
        return n >= records.length ? n : undefined;
      },
      { timeoutMs: 60_000, what: `${COLLECTOR_METRICS.sendFailedLogRecords}{exporter="${LOKI_EXPORTER}"} >= ${records.length}` },
    );
    expect(failed).toBe(records.length);
    expect(loki.pushes.some((p) => p.status === 400)).toBe(true);
    expect(loki.entries).toHaveLength(0);
    // Every Collector metric the dashboards and rules read is in its real scrape.
    const scrape = await fetch(setup.metricsUrl).then((r) => r.text());
    for (const m of Object.values(COLLECTOR_METRICS)) expect(scrape, m).toMatch(new RegExp(`^${m}\\{[^}]*exporter="${LOKI_EXPORTER.replace('/', '\\/')}"`, 'm'));

    const note = await waitFor(
      () => hook.received.map((r) => r.payload).find((p) => p.groupLabels.alertname === 'OiAuditLokiRefusedRecords'),
      { timeoutMs: 120_000, intervalMs: 500, what: 'OiAuditLokiRefusedRecords at the webhook' },
    );
    expect(note.status).toBe('firing');
    expect(note.receiver).toBe('security-webhook');
    const a = note.alerts[0]!;
    expect(a.labels).toMatchObject({ alertname: 'OiAuditLokiRefusedRecords', severity: 'high', source: 'oi-audit', instance: `127.0.0.1:${cMetrics}` });
    expect(a.annotations.playbook).toBe('docs/playbooks.md#loki-refused-audit-records');
    expect(a.annotations.summary).toMatch(/^Loki refused \d+(\.\d+)? audit records in 10 minutes/);
    expect(a.generatorURL).toContain(`:${promPort}/graph?g0.expr=`); // from this Prometheus (it names the host, not 127.0.0.1)
  }, 300_000);
});
