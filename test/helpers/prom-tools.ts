/**
 * The Prometheus tools built by scripts/build-prom-tools.sh (Alertmanager, Prometheus, promtool), started
 * on loopback ports for the alerting tests, and a webhook receiver that records what the Alertmanager sends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { REPO_ROOT } from './cli.js';
import { waitFor } from './collector-stack.js';

export interface PromTools {
  alertmanager: string;
  prometheus: string;
  promtool: string;
}

let toolsPromise: Promise<PromTools> | undefined;

/** The cached binaries; builds them when missing. A missing or failed build rejects: the tests fail. */
export function ensurePromTools(): Promise<PromTools> {
  toolsPromise ??= new Promise<string>((resolve, reject) => {
    const fromSetup = process.env.OI_AUDIT_PROM_TOOLS;
    if (fromSetup) return resolve(fromSetup);
    const child = spawn('bash', [join(REPO_ROOT, 'scripts', 'build-prom-tools.sh')], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out.trim().split('\n').at(-1) ?? '') : reject(new Error(`scripts/build-prom-tools.sh exited with ${code}`))));
  }).then((dir) => {
    const tools = { alertmanager: join(dir, 'alertmanager'), prometheus: join(dir, 'prometheus'), promtool: join(dir, 'promtool') };
    for (const [name, path] of Object.entries(tools)) if (!existsSync(path)) throw new Error(`${name} missing at ${path} (scripts/build-prom-tools.sh)`);
    return tools;
  });
  toolsPromise.catch(() => (toolsPromise = undefined));
  return toolsPromise;
}

export interface Proc {
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** Starts a long-running binary, keeps the tail of its output, and waits until `readyUrl` answers 200. */
export async function startProc(name: string, bin: string, args: string[], readyUrl: string): Promise<Proc> {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (d: Buffer): void => {
    tail = (tail + d.toString()).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (exited !== undefined) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  try {
    await waitFor(
      async () => {
        if (exited !== undefined) throw new Error(`${name} exited with ${exited}:\n${tail}`);
        const r = await fetch(readyUrl, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
        return r?.status === 200 ? true : undefined;
      },
      { timeoutMs: 60_000, what: `${name} ready at ${readyUrl}` },
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { child, output: () => tail, stop };
}

export function startAlertmanager(tools: PromTools, config: string, port: number, dir: string): Promise<Proc> {
  mkdirSync(dir, { recursive: true });
  return startProc(
    'alertmanager',
    tools.alertmanager,
    // No cluster: a single instance, nothing listening beyond the API port.
    [`--config.file=${config}`, `--storage.path=${dir}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=debug'],
    `http://127.0.0.1:${port}/-/ready`,
  );
}

export function startPrometheus(tools: PromTools, config: string, port: number, dir: string): Promise<Proc> {
  mkdirSync(dir, { recursive: true });
  return startProc('prometheus', tools.prometheus, [`--config.file=${config}`, `--storage.tsdb.path=${dir}`, `--web.listen-address=127.0.0.1:${port}`], `http://127.0.0.1:${port}/-/ready`);
}

/** Alertmanager's webhook payload (version 4), the fields the tests read. */
export interface WebhookPayload {
  version: string;
  receiver: string;
  status: 'firing' | 'resolved';
  groupKey: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  alerts: Array<{ status: string; labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string; generatorURL: string }>;
}

export interface WebhookReceiver {
  url: string;
  received: Array<{ path: string; authorization: string | undefined; payload: WebhookPayload }>;
  stop: () => Promise<void>;
}

/** A loopback webhook receiver (the example receiver of collector-config/alertmanager.yml). */
export function startWebhook(): Promise<WebhookReceiver> {
  const received: WebhookReceiver['received'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        received.push({ path: req.url ?? '', authorization: req.headers.authorization, payload: JSON.parse(Buffer.concat(chunks).toString('utf8')) as WebhookPayload });
        res.writeHead(200).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://127.0.0.1:${port}/hooks/oi-audit`, received, stop: () => new Promise((r) => server.close(() => r())) });
    }),
  );
}

/** Loopback ports of what collector-config/prometheus.yml scrapes and alerts to. */
export interface PrometheusTargets {
  /** The Collector's own metrics (otel-collector:8888). */
  collectorMetrics: number;
  /** The app metrics the Collector exposes (otel-collector:8889). */
  collectorPrometheus: number;
  /** alertmanager:9093 */
  alertmanager: number;
}

/**
 * collector-config/prometheus.yml as the tests run it: every target moved to its loopback port (a target
 * the file names that `targets` does not map is an error), scraped every 2 s (test pacing only), the rule
 * files `ruleFiles` instead of the container's path; jobs and alerting otherwise unchanged. Written to
 * `<dir>/prometheus.yml`; returns that path.
 */
export function loopbackPrometheusConfig(dir: string, targets: PrometheusTargets, ruleFiles: string[]): string {
  const cfg = parseYaml(readFileSync(join(REPO_ROOT, 'collector-config/prometheus.yml'), 'utf8')) as PrometheusYml;
  const byName: Record<string, string> = {
    'otel-collector:8888': `127.0.0.1:${targets.collectorMetrics}`,
    'otel-collector:8889': `127.0.0.1:${targets.collectorPrometheus}`,
    'alertmanager:9093': `127.0.0.1:${targets.alertmanager}`,
  };
  const retarget = (sc: { targets: string[] }): void => {
    sc.targets = sc.targets.map((t) => {
      const to = byName[t];
      if (!to) throw new Error(`collector-config/prometheus.yml: unexpected target ${t}`);
      return to;
    });
  };
  for (const j of cfg.scrape_configs) for (const sc of j.static_configs) retarget(sc);
  for (const a of cfg.alerting.alertmanagers) for (const sc of a.static_configs) retarget(sc);
  cfg.global.scrape_interval = '2s';
  cfg.rule_files = ruleFiles;
  const file = join(dir, 'prometheus.yml');
  writeFileSync(file, stringify(cfg));
  return file;
}

/** The parts of prometheus.yml the tests rewrite. */
interface PrometheusYml {
  global: { scrape_interval?: string };
  scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }>;
  alerting: { alertmanagers: Array<{ static_configs: Array<{ targets: string[] }> }> };
  rule_files: string[];
}
