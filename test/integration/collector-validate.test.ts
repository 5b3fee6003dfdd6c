/**
 * Every Collector configuration in collector-config/ passes `otelcol validate` with the ocb-built Collector
 * (which builds every component and parses every OTTL statement), the build has exactly the intended
 * components, and the audit rules of otelcol.yaml hold (memory_limiter first, no body rewrite, persistent
 * queues with retry forever, Loki at /otlp with X-Scope-OrgID, archive with rotation and compression).
 * Also checks the back-end configs and docker-compose.yml by construction (they cannot run here).
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parse } from 'yaml';
import { COLLECTOR_CONFIG_DIR, REPO_ROOT, collectorComponents, validateConfig } from '../helpers/collector-stack.js';

type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(name)) out.push(p);
  }
  return out.sort();
}

const load = (p: string): Doc => parse(readFileSync(p, 'utf8')) as Doc;
const isCollectorConfig = (d: Doc): boolean => !!d?.service?.pipelines;

/** Env each config needs for validation (values only have to be well-formed). */
const VALIDATE_ENV: Record<string, string> = {
  SPLUNK_HEC_TOKEN: '00000000-0000-0000-0000-000000000000',
  ELASTICSEARCH_API_KEY: 'dGVzdDp0ZXN0',
  OI_AUDIT_DATA_DIR: '/tmp/oi-audit-validate',
  OI_AUDIT_ARCHIVE_DIR: '/tmp/oi-audit-validate/archive',
  STANDIN_OUTPUT: '/tmp/oi-audit-validate/standin.jsonl',
};

const ALL = yamlFiles(COLLECTOR_CONFIG_DIR);
const COLLECTOR_CONFIGS = ALL.filter((p) => isCollectorConfig(load(p)));
const rel = (p: string): string => relative(COLLECTOR_CONFIG_DIR, p);

describe('collector-config/', () => {
  it('every YAML file is classified: Collector configs, the ocb manifest, the Tempo, Loki, Alertmanager and Prometheus configs (the last two run by alert-delivery.test.ts)', () => {
    const others = ALL.filter((p) => !COLLECTOR_CONFIGS.includes(p)).map(rel);
    expect(others.sort()).toEqual(['alertmanager.yml', 'builder-config.yaml', 'loki.yaml', 'prometheus.yml', 'tempo-3.yaml', 'tempo.yaml']);
    expect(COLLECTOR_CONFIGS.map(rel)).toEqual(
      expect.arrayContaining([
        'otelcol.yaml',
        'examples/splunk-hec.yaml',
        'examples/kafka.yaml',
        'examples/elasticsearch.yaml',
        'examples/scale-out/agent.yaml',
        'examples/scale-out/gateway.yaml',
        'test/tempo-standin.yaml',
        'test/loki-standin.yaml',
      ]),
    );
  });

  for (const file of COLLECTOR_CONFIGS) {
    it(`otelcol validate --config=${rel(file)}`, async () => {
      const { code, output } = await validateConfig(file, VALIDATE_ENV);
      expect(output.trim() === '' ? 'ok' : output, `validate ${rel(file)}`).not.toMatch(/Error:/);
      expect(code, output).toBe(0);
    });
  }

  it('the ocb build pins one release and has exactly the intended components', async () => {
    const manifest = load(join(COLLECTOR_CONFIG_DIR, 'builder-config.yaml'));
    const mods: string[] = ['receivers', 'processors', 'exporters', 'connectors', 'extensions', 'providers'].flatMap(
      (k) => (manifest[k] ?? []).map((c: { gomod: string }) => c.gomod),
    );
    const versions = new Set(mods.map((m) => m.split(' ')[1]));
    // beta modules at v0.X.0, stable confmap providers at the matching v1.Y.0
    expect([...versions].sort()).toEqual(['v0.145.0', 'v1.51.0']);
    const components = await collectorComponents();
    expect(components).toEqual({
      receivers: ['kafka', 'otlp'],
      processors: ['attributes', 'batch', 'filter', 'memory_limiter', 'redaction', 'transform'],
      exporters: [
        'debug',
        'elasticsearch',
        'file',
        'kafka',
        'loadbalancing',
        'otlp_grpc', // deprecated alias "otlp" also accepted
        'otlp_http', // deprecated alias "otlphttp" also accepted
        'prometheus', // the metrics pipeline's scrape endpoint
        'splunk_hec',
        'syslog',
      ],
      connectors: ['forward', 'routing'],
      extensions: ['bearertokenauth', 'file_storage', 'health_check'],
    });
  });
});

describe('otelcol.yaml audit rules', () => {
  const cfg = load(join(COLLECTOR_CONFIG_DIR, 'otelcol.yaml'));
  const pipelines = cfg.service.pipelines as Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }>;

  it('memory_limiter is the first processor of every pipeline', () => {
    for (const [name, p] of Object.entries(pipelines)) expect(p.processors?.[0], name).toBe('memory_limiter');
  });

  it('no processor in a logs pipeline can rewrite the body; no batch processor in audit pipelines', () => {
    for (const [name, p] of Object.entries(pipelines)) {
      for (const proc of p.processors ?? []) {
        const type = proc.split('/')[0];
        expect(type, `${name}: batch acknowledges before persisting`).not.toBe('batch');
        if (!name.startsWith('logs')) continue;
        // redaction masks bodies too; filter drops evidence
        expect(['memory_limiter', 'attributes', 'transform'], `${name}: ${proc}`).toContain(type);
        if (type === 'transform') {
          const stmts = JSON.stringify(cfg.processors[proc]);
          expect(stmts, proc).not.toMatch(/(set|replace_\w+|truncate_all|limit|merge_maps|flatten|delete_\w+|keep_\w+)\(\s*(log\.)?body\b/);
        }
        if (type === 'attributes') expect(JSON.stringify(cfg.processors[proc])).not.toMatch(/body/);
      }
    }
  });

  it('audit exporters queue on file_storage and retry without a deadline', () => {
    expect(cfg.service.extensions).toContain('file_storage/queue');
    for (const [id, ex] of Object.entries(cfg.exporters as Record<string, Doc>)) {
      if (id.startsWith('file/')) continue; // synchronous writes, no queue settings in the file exporter
      if (id.startsWith('prometheus/')) continue; // metrics, not audit records: a scrape endpoint, nothing to queue
      expect(ex.sending_queue?.enabled, id).toBe(true);
      expect(ex.sending_queue?.storage, id).toBe('file_storage/queue');
      expect(ex.retry_on_failure?.max_elapsed_time, id).toBe(0);
    }
  });

  it('routes metrics to the Prometheus scrape endpoint, apart from the audit pipelines', () => {
    expect(pipelines.metrics!.receivers).toEqual(['otlp']);
    expect(pipelines.metrics!.exporters).toEqual(['prometheus/metrics']);
    expect(cfg.exporters['prometheus/metrics'].endpoint).toMatch(/^\$\{env:OI_AUDIT_PROMETHEUS_ENDPOINT/);
  });

  it('routes: traces to Tempo, logs to Loki /otlp with X-Scope-OrgID, archive, SIEM (high risk at once)', () => {
    expect(pipelines.traces!.exporters).toEqual(['otlp_grpc/tempo']);
    expect(cfg.exporters['otlp_grpc/tempo'].endpoint).toBe('${env:TEMPO_OTLP_ENDPOINT:-tempo:4317}');
    expect(pipelines.logs!.exporters).toEqual(['otlp_http/loki', 'file/archive', 'routing/risk']);
    expect(cfg.exporters['otlp_http/loki'].endpoint).toMatch(/\/otlp$/);
    expect(cfg.exporters['otlp_http/loki'].headers['X-Scope-OrgID']).toMatch(/^\$\{env:LOKI_TENANT_ID/);
    const archive = cfg.exporters['file/archive'];
    expect(archive.format).toBe('json');
    expect(archive.compression).toBe('zstd');
    expect(archive.rotation.max_days).toBeDefined();
    expect(archive.rotation.max_backups).toBeDefined();
    expect(archive.directory_permissions).toBe('0700');
    const routing = cfg.connectors['routing/risk'];
    expect(routing.table[0].condition).toContain('"high"');
    expect(routing.table[0].condition).toContain('"critical"');
    expect(routing.table[0].pipelines).toEqual(['logs/siem-urgent']);
    expect(routing.default_pipelines).toEqual(['logs/siem']);
    expect(cfg.exporters['syslog/siem'].protocol).toBe('rfc5424');
    expect(cfg.exporters['syslog/siem-urgent'].protocol).toBe('rfc5424');
    expect(cfg.exporters['syslog/siem-urgent'].sending_queue.batch).toBeUndefined();
  });
});

describe('back ends and docker-compose.yml (by construction)', () => {
  it('loki.yaml: retention with the compactor, session_id and service_name index labels', () => {
    const loki = load(join(COLLECTOR_CONFIG_DIR, 'loki.yaml'));
    expect(loki.compactor.retention_enabled).toBe(true);
    expect(loki.compactor.delete_request_store).toBeDefined();
    expect(loki.limits_config.retention_period).toMatch(/^\d+h$/);
    expect(loki.limits_config.allow_structured_metadata).toBe(true);
    expect(loki.distributor.otlp_config.default_resource_attributes_as_index_labels).toContain('service.name');
    const logAttrs = loki.limits_config.otlp_config.log_attributes as Array<{ action: string; attributes: string[] }>;
    expect(logAttrs.some((r) => r.action === 'index_label' && r.attributes.includes('session.id'))).toBe(true);
  });

  it('loki.yaml sizes for the Collector\'s batches and sends alerts to the Alertmanager, which routes them to a webhook', () => {
    const loki = load(join(COLLECTOR_CONFIG_DIR, 'loki.yaml'));
    expect(loki.server.grpc_server_max_recv_msg_size).toBeGreaterThanOrEqual(16 * 2 ** 20);
    expect(loki.ingester_client.grpc_client_config.max_send_msg_size).toBe(loki.server.grpc_server_max_recv_msg_size);
    expect(loki.ruler.alertmanager_url).toBe('http://alertmanager:9093');
    expect(loki.ruler.storage).toBeUndefined(); // rules come from common.storage (Loki 3.7 and main agree)
    expect(loki.common.storage.filesystem.rules_directory).toBe('/loki/rules');
    const otelcol = load(join(COLLECTOR_CONFIG_DIR, 'otelcol.yaml'));
    const batch = otelcol.exporters['otlp_http/loki'].sending_queue.batch;
    expect(batch.sizer).toBe('bytes');
    expect(batch.max_size).toBeLessThan(4 * 10 ** 6); // fits even a Loki with the default 4 MB gRPC limit
    const am = load(join(COLLECTOR_CONFIG_DIR, 'alertmanager.yml'));
    const receivers = (am.receivers as Array<{ name: string; webhook_configs?: unknown[] }>).map((r) => r.name);
    expect(receivers).toContain(am.route.receiver);
    for (const r of am.route.routes ?? []) expect(receivers).toContain(r.receiver);
    expect(am.receivers[0].webhook_configs.length).toBeGreaterThan(0);
  });

  it('tempo.yaml: block retention, OTLP receivers on all interfaces', () => {
    const tempo = load(join(COLLECTOR_CONFIG_DIR, 'tempo.yaml'));
    expect(tempo.compactor.compaction.block_retention).toMatch(/^\d+h$/);
    expect(tempo.distributor.receivers.otlp.protocols.grpc.endpoint).toBe('0.0.0.0:4317');
    // The 3.x variant has none of the blocks Tempo 3 refuses.
    const tempo3 = load(join(COLLECTOR_CONFIG_DIR, 'tempo-3.yaml'));
    expect(tempo3.ingester).toBeUndefined();
    expect(tempo3.compactor).toBeUndefined();
    expect(tempo3.distributor.receivers.otlp.protocols.grpc.endpoint).toBe('0.0.0.0:4317');
  });

  it('docker-compose.yml: pinned official images, mounted files exist, health checks, the Collector runs otelcol.yaml', () => {
    const compose = load(join(REPO_ROOT, 'docker-compose.yml'));
    const s = compose.services as Record<string, Doc>;
    expect(Object.keys(s).sort()).toEqual(['alertmanager', 'grafana', 'loki', 'otel-collector', 'prometheus', 'tempo']);
    expect(s.prometheus!.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
    expect(s.alertmanager!.image).toMatch(/^prom\/alertmanager:v\d+\.\d+\.\d+$/);
    expect(s['otel-collector']!.image).toMatch(/^otel\/opentelemetry-collector-contrib:0\.145\.0$/);
    expect(s.tempo!.image).toMatch(/^grafana\/tempo:\d+\.\d+\.\d+$/);
    expect(s.loki!.image).toMatch(/^grafana\/loki:\d+\.\d+\.\d+$/);
    expect(s.grafana!.image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/);
    for (const [name, svc] of Object.entries(s)) {
      for (const v of (svc.volumes ?? []) as string[]) {
        const src = v.split(':')[0]!;
        // ./secrets/ holds what the operator provides (tokens, the webhook URL): not in the repository.
        if (src.startsWith('./') && !src.startsWith('./secrets/') && name !== 'grafana') expect(existsSync(resolve(REPO_ROOT, src)), `${name}: ${src}`).toBe(true);
      }
      if (name !== 'otel-collector') expect(svc.healthcheck?.test, name).toBeDefined();
    }
    expect(s['otel-collector']!.volumes).toContain('./collector-config/otelcol.yaml:/etc/otelcol-contrib/config.yaml:ro');
    expect(s.grafana!.volumes).toContain('./grafana/provisioning:/etc/grafana/provisioning:ro');
    expect(s['otel-collector']!.environment.TEMPO_OTLP_ENDPOINT).toBe('tempo:4317');
    expect(s['otel-collector']!.environment.LOKI_ENDPOINT).toBe('http://loki:3100');
  });
});
