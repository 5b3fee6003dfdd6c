/**
 * Test harness for the real OpenTelemetry Collector (ocb-built from collector-config/builder-config.yaml),
 * its stand-in back ends and rsyslog as the SIEM.
 *
 * - ensureCollectorBinary(): runs scripts/build-collector.sh (a no-op when the binary is cached outside the repo).
 * - startDockerEngine(): runs scripts/start-docker.sh (installs docker.io and starts dockerd when needed).
 * - startCollector(config, env, { mode }): the Collector in a container (testcontainers GenericContainer, host
 *   network, Ryuk disabled, config and data dirs bind-mounted at the same paths) built FROM scratch locally; when no
 *   Docker engine can be started it runs the same binary as a child process and says so on stderr (never skips).
 * - startRsyslog(port): Debian's rsyslogd in the foreground with collector-config/test/rsyslog.conf on 127.0.0.1.
 *
 * Everything listens on 127.0.0.1 only.
 */
import { RISK_LEVELS, type AuditEventName, type RiskLevel } from '../../src/semconv/events.js';
import { decompress as fzstdDecompress } from 'fzstd';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, openSync, closeSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const COLLECTOR_CONFIG_DIR = join(REPO_ROOT, 'collector-config');
export const OTELCOL_CONFIG = join(COLLECTOR_CONFIG_DIR, 'otelcol.yaml');
export const TEMPO_STANDIN_CONFIG = join(COLLECTOR_CONFIG_DIR, 'test', 'tempo-standin.yaml');
export const LOKI_STANDIN_CONFIG = join(COLLECTOR_CONFIG_DIR, 'test', 'loki-standin.yaml');
export const RSYSLOG_CONFIG = join(COLLECTOR_CONFIG_DIR, 'test', 'rsyslog.conf');

/** Where the container sees the config file. */
const CONTAINER_CONFIG_PATH = '/etc/otelcol-oi-audit/config.yaml';

export function cacheRoot(): string {
  return process.env.OI_AUDIT_CACHE ?? join(process.env.HOME ?? '/root', '.cache', 'oi-audit');
}

function log(msg: string): void {
  process.stderr.write(`[collector-stack] ${msg}\n`);
}

/** Run a command, streaming its stderr to ours, and return stdout. Rejects on non-zero exit. */
function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? REPO_ROOT,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolvePromise(out);
      else reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}: ${err.trim().split('\n').slice(-15).join('\n')}`));
    });
  });
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return (lines[lines.length - 1] ?? '').trim();
}

// ---------------------------------------------------------------------------------------------
// Binary, Docker engine, image
// ---------------------------------------------------------------------------------------------

let binaryPromise: Promise<string> | undefined;

/** Path of the ocb-built Collector; builds it (minutes, cold) when it is not cached. */
export function ensureCollectorBinary(): Promise<string> {
  binaryPromise ??= (async () => {
    const t0 = Date.now();
    const out = await run('bash', [join(REPO_ROOT, 'scripts', 'build-collector.sh')]);
    const bin = lastLine(out);
    if (!bin || !existsSync(bin)) throw new Error(`build-collector.sh did not print a binary path (got "${bin}")`);
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    log(`collector binary: ${bin} (${secs}s)`);
    return bin;
  })();
  binaryPromise.catch(() => (binaryPromise = undefined));
  return binaryPromise;
}

export type DockerStatus = { ok: true } | { ok: false; error: string };
let dockerPromise: Promise<DockerStatus> | undefined;

/** Make sure a Docker engine answers (scripts/start-docker.sh). Never throws: returns the error text instead. */
export function startDockerEngine(): Promise<DockerStatus> {
  dockerPromise ??= (async (): Promise<DockerStatus> => {
    try {
      await run('bash', [join(REPO_ROOT, 'scripts', 'start-docker.sh')]);
      return { ok: true };
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  })();
  return dockerPromise;
}

const imagePromises = new Map<string, Promise<string>>();

/** Local image FROM scratch with the binary (scripts/collector-image/build-image.sh); returns its tag. */
export function ensureCollectorImage(binary: string): Promise<string> {
  let p = imagePromises.get(binary);
  if (!p) {
    p = run('bash', [join(REPO_ROOT, 'scripts', 'collector-image', 'build-image.sh'), binary]).then(lastLine);
    imagePromises.set(binary, p);
    p.catch(() => imagePromises.delete(binary));
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Ports, waiting
// ---------------------------------------------------------------------------------------------

/** Ports handed out in this process: never handed out twice, as a test may bind one only later (a back end started after an outage). */
const handedOut = new Set<number>();

/** A TCP port that is free on 127.0.0.1 right now, and not handed out before in this process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await unusedPort();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

function unusedPort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolvePromise(port));
    });
  });
}

/** n distinct free ports. */
export async function freePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `check` until it returns a truthy value; throws with `what` after timeoutMs. */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false | null> | T | undefined | false | null,
  { timeoutMs = 60_000, intervalMs = 200, what = 'condition' }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${lastErr ? `: ${lastErr instanceof Error ? lastErr.toString() : JSON.stringify(lastErr)}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Collector
// ---------------------------------------------------------------------------------------------

export type CollectorMode = 'auto' | 'container' | 'process';

export interface StartCollectorOptions {
  /** auto (default; env OI_AUDIT_COLLECTOR_MODE overrides): container when a Docker engine can be started, else a child process. */
  mode?: CollectorMode;
  /** host:port of the health_check extension configured by `env`; startCollector waits until GET / answers 200. */
  healthEndpoint: string;
  /**
   * Directories the Collector reads or writes (data, archive, outputs): created (0700) when missing, and
   * bind-mounted at the same path. Mount a parent to let the Collector create (and set the mode of) a child.
   */
  dirs?: string[];
  /** Name used in logs and in the container name. */
  name?: string;
  /** Extra command-line arguments after --config. */
  args?: string[];
  startupTimeoutMs?: number;
}

export interface CollectorHandle {
  readonly name: string;
  readonly mode: 'container' | 'process';
  /** Container id or process id. */
  readonly id: string;
  readonly healthUrl: string;
  /** Everything the Collector printed so far. */
  logs(): string;
  /** Graceful stop (SIGTERM, then SIGKILL after 15 s). */
  stop(): Promise<void>;
  /** SIGKILL, no shutdown: what a crash looks like. */
  kill(): Promise<void>;
}

/** Ports the Collector running collector-config/otelcol.yaml listens on. */
export interface OtelcolPorts {
  grpc: number;
  http: number;
  health: number;
  metrics: number;
  /** The app-metrics scrape endpoint (prometheus/metrics); unset: an ephemeral port nobody scrapes. */
  prometheus?: number;
}

/**
 * The environment collector-config/otelcol.yaml reads: its own listeners and directories, and where it
 * fans out (Tempo host:port, Loki base URL, the SIEM's syslog port on loopback). `extra` adds or overrides.
 */
export function otelcolEnv(o: {
  ports: OtelcolPorts;
  dataDir: string;
  archiveDir: string;
  tokenFile: string;
  tempo: string;
  loki: string;
  siemPort: number;
  extra?: Record<string, string>;
}): Record<string, string> {
  return {
    OI_AUDIT_OTLP_GRPC_ENDPOINT: `127.0.0.1:${o.ports.grpc}`,
    OI_AUDIT_OTLP_HTTP_ENDPOINT: `127.0.0.1:${o.ports.http}`,
    OI_AUDIT_HEALTH_ENDPOINT: `127.0.0.1:${o.ports.health}`,
    OI_AUDIT_METRICS_HOST: '127.0.0.1',
    OI_AUDIT_METRICS_PORT: String(o.ports.metrics),
    OI_AUDIT_PROMETHEUS_ENDPOINT: `127.0.0.1:${o.ports.prometheus ?? 0}`,
    OI_AUDIT_DATA_DIR: o.dataDir,
    OI_AUDIT_OTLP_TOKEN_FILE: o.tokenFile,
    OI_AUDIT_ARCHIVE_DIR: o.archiveDir,
    TEMPO_OTLP_ENDPOINT: o.tempo,
    LOKI_ENDPOINT: o.loki,
    SIEM_SYSLOG_HOST: '127.0.0.1',
    SIEM_SYSLOG_PORT: String(o.siemPort),
    ...o.extra,
  };
}

/**
 * Start the Collector with `configPath` and `env`. See StartCollectorOptions. In container mode the config is
 * mounted read-only at /etc/otelcol-oi-audit/config.yaml and every dir in `dirs` at its own path; the container
 * uses the host network, so the endpoints in `env` (127.0.0.1:<port>) mean the same in both modes.
 */
export async function startCollector(
  configPath: string,
  env: Record<string, string>,
  opts: StartCollectorOptions,
): Promise<CollectorHandle> {
  const binary = await ensureCollectorBinary();
  const name = opts.name ?? 'otelcol';
  for (const d of opts.dirs ?? []) await mkdir(d, { recursive: true, mode: 0o700 });
  let mode = (process.env.OI_AUDIT_COLLECTOR_MODE as CollectorMode | undefined) ?? opts.mode ?? 'auto';
  let fallbackReason = '';
  if (mode !== 'process') {
    const docker = await startDockerEngine();
    if (!docker.ok) {
      if (mode === 'container') throw new Error(`Docker engine unavailable: ${docker.error}`);
      fallbackReason = `no Docker engine: ${docker.error}`;
      mode = 'process';
    }
  }
  let handle: CollectorHandle;
  if (mode === 'process') {
    if (fallbackReason) {
      log(`FALLBACK: running the Collector "${name}" as a child process (${fallbackReason.split('\n')[0]})`);
      process.stdout.write(`[collector-stack] Collector "${name}" runs as a child process, not in a container: ${fallbackReason.split('\n')[0]}\n`);
    }
    handle = startCollectorProcess(binary, configPath, env, opts, name);
  } else {
    try {
      handle = await startCollectorContainer(binary, configPath, env, opts, name);
    } catch (e) {
      if (mode === 'container') throw e;
      const reason = (e as Error).message.split('\n')[0];
      log(`FALLBACK: container start failed (${reason}); running the Collector "${name}" as a child process`);
      process.stdout.write(`[collector-stack] Collector "${name}" runs as a child process, not in a container: ${reason}\n`);
      handle = startCollectorProcess(binary, configPath, env, opts, name);
    }
  }
  try {
    await waitFor(() => httpOk(handle.healthUrl), {
      timeoutMs: opts.startupTimeoutMs ?? 60_000,
      what: `Collector "${name}" health at ${handle.healthUrl}`,
    });
  } catch (e) {
    const logs = handle.logs();
    await handle.kill().catch(() => undefined);
    throw new Error(`${(e as Error).message}\n--- ${name} logs ---\n${logs.slice(-4000)}`, { cause: e });
  }
  log(`Collector "${name}" ready (${handle.mode} ${handle.id})`);
  return handle;
}

function startCollectorProcess(
  binary: string,
  configPath: string,
  env: Record<string, string>,
  opts: StartCollectorOptions,
  name: string,
): CollectorHandle {
  const child: ChildProcess = spawn(binary, [`--config=${configPath}`, ...(opts.args ?? [])], {
    cwd: tmpdir(),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (d: Buffer): void => {
    output += d.toString();
    if (output.length > 2_000_000) output = output.slice(-1_000_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const done = (): boolean => child.exitCode !== null || child.signalCode !== null;
  return {
    name,
    mode: 'process',
    id: String(child.pid),
    healthUrl: `http://${opts.healthEndpoint}/`,
    logs: () => output,
    async stop() {
      if (done()) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
    async kill() {
      if (done()) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

async function startCollectorContainer(
  binary: string,
  configPath: string,
  env: Record<string, string>,
  opts: StartCollectorOptions,
  name: string,
): Promise<CollectorHandle> {
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  // dockerd runs with --bridge=none: testcontainers would look up the "bridge" network's gateway to find the host.
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';
  const tag = await ensureCollectorImage(binary);
  const { GenericContainer } = await import('testcontainers');
  let output = '';
  const container = await new GenericContainer(tag)
    .withName(`oi-audit-${name}-${process.pid}-${Date.now().toString(36)}`)
    .withNetworkMode('host')
    .withEnvironment(env)
    .withBindMounts([
      { source: resolve(configPath), target: CONTAINER_CONFIG_PATH, mode: 'ro' },
      ...(opts.dirs ?? []).map((d) => ({ source: resolve(d), target: resolve(d), mode: 'rw' as const })),
    ])
    .withCommand([`--config=${CONTAINER_CONFIG_PATH}`, ...(opts.args ?? [])])
    .withStartupTimeout(opts.startupTimeoutMs ?? 60_000)
    .withLogConsumer((stream) => {
      stream.on('data', (d: Buffer | string) => {
        output += d.toString();
        if (output.length > 2_000_000) output = output.slice(-1_000_000);
      });
    })
    .start();
  const id = container.getId();
  let gone = false;
  return {
    name,
    mode: 'container',
    id,
    healthUrl: `http://${opts.healthEndpoint}/`,
    logs: () => output,
    async stop() {
      if (gone) return;
      gone = true;
      await container.stop({ timeout: 15_000, remove: true });
    },
    async kill() {
      if (gone) return;
      gone = true;
      await execFileP('docker', ['kill', '--signal=KILL', id]).catch(() => undefined);
      await execFileP('docker', ['rm', '-f', id]).catch(() => undefined);
    },
  };
}

/** `otelcol validate --config=<path>` with `env`; resolves with the exit code and output. */
export async function validateConfig(
  configPath: string,
  env: Record<string, string>,
): Promise<{ code: number; output: string }> {
  const binary = await ensureCollectorBinary();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(binary, ['validate', `--config=${configPath}`], {
      cwd: tmpdir(),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, output }));
  });
}

/** The components compiled into the binary (`otelcol components`), by kind. */
export async function collectorComponents(): Promise<Record<string, string[]>> {
  const binary = await ensureCollectorBinary();
  const { stdout } = await execFileP(binary, ['components'], { maxBuffer: 10_000_000 });
  const { parse } = await import('yaml');
  const doc = parse(stdout) as Record<string, unknown>;
  const out: Record<string, string[]> = {};
  for (const kind of ['receivers', 'processors', 'exporters', 'connectors', 'extensions']) {
    const list = doc[kind];
    out[kind] = Array.isArray(list) ? [...new Set(list.map((c: { name: string }) => c.name))].sort() : [];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// rsyslog
// ---------------------------------------------------------------------------------------------

/** One message as rsyslog parsed it (collector-config/test/rsyslog.conf template). */
export interface SyslogMessage {
  pri: string;
  facility: string;
  severity: string;
  version: string;
  timestamp: string;
  hostname: string;
  app_name: string;
  procid: string;
  msgid: string;
  structured_data: string;
  msg: string;
}

export interface RsyslogHandle {
  readonly port: number;
  readonly pid: number;
  readonly outputFile: string;
  /** Messages written so far (parsed JSON lines). */
  messages(): Promise<SyslogMessage[]>;
  logs(): string;
  stop(): Promise<void>;
}

async function ensureRsyslogd(): Promise<string> {
  for (const p of ['/usr/sbin/rsyslogd', '/sbin/rsyslogd']) if (existsSync(p)) return p;
  log('rsyslogd not found: installing Debian rsyslog ...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await run('apt-get', ['install', '-y', '--no-install-recommends', 'rsyslog'], { env });
  } catch {
    await run('apt-get', ['update'], { env });
    await run('apt-get', ['install', '-y', '--no-install-recommends', 'rsyslog'], { env });
  }
  for (const p of ['/usr/sbin/rsyslogd', '/sbin/rsyslogd']) if (existsSync(p)) return p;
  throw new Error('rsyslog installed but rsyslogd not found');
}

/** Debian rsyslogd in the foreground on 127.0.0.1:<port> (a free port when omitted). */
export async function startRsyslog(port?: number): Promise<RsyslogHandle> {
  const rsyslogd = await ensureRsyslogd();
  const p = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'oi-audit-rsyslog-'));
  const outputFile = join(dir, 'messages.jsonl');
  const pidFile = join(dir, 'rsyslogd.pid');
  const child = spawn(rsyslogd, ['-n', '-f', RSYSLOG_CONFIG, '-i', pidFile], {
    cwd: dir,
    env: { ...process.env, RSYSLOG_PORT: String(p), RSYSLOG_OUTPUT: outputFile, RSYSLOG_WORKDIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  const done = (): boolean => child.exitCode !== null || child.signalCode !== null;
  await waitFor(
    async () => {
      if (done()) throw new Error(`rsyslogd exited: ${output}`);
      return canConnect(p);
    },
    { timeoutMs: 20_000, what: `rsyslogd listening on 127.0.0.1:${p}` },
  );
  log(`rsyslogd ready on 127.0.0.1:${p} (pid ${child.pid}, output ${outputFile})`);
  return {
    port: p,
    pid: child.pid ?? -1,
    outputFile,
    logs: () => output,
    async messages() {
      if (!existsSync(outputFile)) return [];
      const text = await readFile(outputFile, 'utf8');
      return text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as SyslogMessage);
    },
    async stop() {
      if (done()) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    import('node:net').then(({ connect }) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.end();
        resolvePromise(true);
      });
      s.once('error', () => resolvePromise(false));
    }, () => resolvePromise(false));
  });
}

// ---------------------------------------------------------------------------------------------
// Reading what the stand-ins and the archive received
// ---------------------------------------------------------------------------------------------

/** Parse a file of OTLP-JSON requests, one per line (the stand-ins' file exporter, format json). */
export function readJsonLines<T = unknown>(file: string): T[] {
  if (!existsSync(file)) return [];
  const out: T[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // the file exporter may be mid-write: the caller polls again
    }
  }
  return out;
}

/**
 * Decode the archive written by the file exporter with `format: json` + `compression: zstd`:
 * a sequence of [4-byte big-endian length][zstd frame of one OTLP-JSON request]. Decoded with fzstd
 * (Node 20's zlib has no zstd). Returns the parsed requests; a truncated tail is ignored.
 */
export async function readZstdArchive<T = unknown>(file: string): Promise<T[]> {
  const buf = await readFile(file);
  const out: T[] = [];
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt32BE(off);
    if (off + 4 + len > buf.length) break;
    const frame = buf.subarray(off + 4, off + 4 + len);
    off += 4 + len;
    const json = await zstdDecompress(frame);
    out.push(JSON.parse(json) as T);
  }
  return out;
}

/** fzstd is the project's own zstd reader (src/read/otlp-files.ts): no zstd binary needed on the machine. */
async function zstdDecompress(frame: Buffer): Promise<string> {
  return Buffer.from(fzstdDecompress(frame)).toString('utf8');
}

/** Files (not dirs) directly under dir, with their modes. */
export function listFiles(dir: string): Array<{ path: string; mode: number }> {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((n) => join(dir, n))
    .filter((p) => statSync(p).isFile())
    .map((p) => ({ path: p, mode: statSync(p).mode & 0o777 }));
}

/** A fresh temporary directory for one test's Collector data. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `oi-audit-${prefix}-`));
}

/** Touch a file so a later bind mount of its directory exists (kept for callers that need it). */
export function touch(file: string): void {
  closeSync(openSync(file, 'a'));
}

// ---------------------------------------------------------------------------------------------
// OTLP/JSON request bodies (built by hand) and sending
// ---------------------------------------------------------------------------------------------

/** The event names synthetic records cycle through (typed: a name the pipeline does not emit fails to compile). */
const SAMPLE_EVENT_NAMES: AuditEventName[] = [
  'oi_audit.session.start',
  'oi_audit.user.input',
  'oi_audit.llm.request',
  'oi_audit.llm.response',
  'oi_audit.code.generated',
  'oi_audit.approval.decision',
  'oi_audit.command.executed',
  'oi_audit.command.output',
  'oi_audit.error',
  'oi_audit.integrity.checkpoint',
  'oi_audit.session.end',
];

export interface AuditRecord {
  sessionId: string;
  seq: number;
  eventName: string;
  risk: RiskLevel;
  language: string;
  pseudoUser: string;
  traceId: string;
  spanId: string;
  timeUnixNano: string;
  /** canonical JSON string: the evidence */
  body: string;
}

/** JSON with object keys sorted (enough of RFC 8785 for these fixtures: strings, integers, nested objects). */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

function hex(n: number, len: number): string {
  return n.toString(16).padStart(len, '0').slice(-len);
}

/**
 * Deterministic audit records for `sessions` sessions of `perSession` events each. Bodies hold the
 * characters that break naive pipelines: quotes, backslashes, non-ASCII, emoji, U+2028, escaped
 * control characters, "]" (RFC 5424 structured-data delimiter), "=" and long text.
 */
export function makeAuditRecords(sessions: number, perSession: number, opts: { runId?: string } = {}): AuditRecord[] {
  const runId = opts.runId ?? Date.now().toString(36);
  const out: AuditRecord[] = [];
  const base = BigInt(Date.now()) * 1_000_000n;
  for (let s = 0; s < sessions; s++) {
    const sessionId = `sess-${runId}-${s}`;
    const traceId = hex(0x5e55 + s, 8) + hex(Number.parseInt(runId.slice(-6), 36) || 1, 8) + hex(s * 7919 + 1, 16);
    for (let seq = 1; seq <= perSession; seq++) {
      const i = s * perSession + seq;
      const eventName = SAMPLE_EVENT_NAMES[(seq - 1) % SAMPLE_EVENT_NAMES.length]!;
      const risk = RISK_LEVELS[(i * 7) % RISK_LEVELS.length]!;
      const language = seq % 2 === 0 ? 'python' : 'shell';
      const body = canonicalJson({
        v: 1,
        event: eventName,
        session: sessionId,
        seq,
        prev: hex(i * 2654435761, 16).repeat(4),
        mac: hex(i * 40503, 16).repeat(4),
        risk,
        data: {
          code: seq % 3 === 0 ? 'print("héllo ☃ 😀")\nimport os; os.system("rm -rf /tmp/x\\\\y")' : `echo "${'x'.repeat(seq % 50)}"`,
          note: 'quote " backslash \\ bracket ] equals = line\u2028sep tab\t nul\u0000 end',
          lang: language,
        },
      });
      out.push({
        sessionId,
        seq,
        eventName,
        risk,
        language,
        pseudoUser: `k1:${hex(s * 31337 + 17, 32)}`,
        traceId,
        spanId: hex(i + 1, 16),
        timeUnixNano: String(base + BigInt(i) * 1000n),
        body,
      });
    }
  }
  return out;
}

type OtlpAnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
type OtlpKeyValue = { key: string; value: OtlpAnyValue };

function kv(key: string, value: string | number): OtlpKeyValue {
  return typeof value === 'number' ? { key, value: { intValue: String(value) } } : { key, value: { stringValue: value } };
}

export const SEVERITY_BY_RISK: Record<RiskLevel, { number: number; text: string }> = {
  none: { number: 9, text: 'INFO' },
  low: { number: 9, text: 'INFO' },
  medium: { number: 13, text: 'WARN' },
  high: { number: 17, text: 'ERROR' },
  critical: { number: 21, text: 'FATAL' },
};

/** One OTLP/JSON ExportLogsServiceRequest for these records (one resource, one scope). */
export function logsRequest(records: AuditRecord[], serviceName = 'oi-audit-test'): unknown {
  return {
    resourceLogs: [
      {
        resource: { attributes: [kv('service.name', serviceName), kv('service.version', '0.0.0-test')] },
        scopeLogs: [
          {
            scope: { name: 'oi-audit', version: '0.0.0-test' },
            logRecords: records.map((r) => ({
              timeUnixNano: r.timeUnixNano,
              observedTimeUnixNano: r.timeUnixNano,
              severityNumber: SEVERITY_BY_RISK[r.risk].number,
              severityText: SEVERITY_BY_RISK[r.risk].text,
              eventName: r.eventName,
              body: { stringValue: r.body },
              attributes: [
                kv('event.name', r.eventName),
                kv('session.id', r.sessionId),
                kv('enduser.pseudo.id', r.pseudoUser),
                kv('oi_audit.event.seq', r.seq),
                kv('oi_audit.risk.level', r.risk),
                kv('oi_audit.code.language', r.language),
              ],
              traceId: r.traceId,
              spanId: r.spanId,
            })),
          },
        ],
      },
    ],
  };
}

export interface TestSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  sessionId: string;
}

/** Spans for each session: a root, a prompt, a generation and an execution. */
export function makeSpans(sessionIds: string[], runId: string): TestSpan[] {
  const spans: TestSpan[] = [];
  sessionIds.forEach((sessionId, s) => {
    const traceId = hex(0x7ace + s, 8) + hex(Number.parseInt(runId.slice(-6), 36) || 1, 8) + hex(s * 104729 + 3, 16);
    const root = hex(0xa000 + s * 16, 16);
    const prompt = hex(0xa001 + s * 16, 16);
    spans.push({ traceId, spanId: root, name: 'open_interpreter.session', sessionId });
    spans.push({ traceId, spanId: prompt, parentSpanId: root, name: 'open_interpreter.prompt', sessionId });
    spans.push({ traceId, spanId: hex(0xa002 + s * 16, 16), parentSpanId: prompt, name: 'chat', sessionId });
    spans.push({ traceId, spanId: hex(0xa003 + s * 16, 16), parentSpanId: prompt, name: 'open_interpreter.execute', sessionId });
  });
  return spans;
}

/** One OTLP/JSON ExportTraceServiceRequest. */
export function tracesRequest(spans: TestSpan[], serviceName = 'oi-audit-test'): unknown {
  const now = BigInt(Date.now()) * 1_000_000n;
  return {
    resourceSpans: [
      {
        resource: { attributes: [kv('service.name', serviceName)] },
        scopeSpans: [
          {
            scope: { name: 'oi-audit' },
            spans: spans.map((s, i) => ({
              traceId: s.traceId,
              spanId: s.spanId,
              ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
              name: s.name,
              kind: 1,
              startTimeUnixNano: String(now + BigInt(i) * 1000n),
              endTimeUnixNano: String(now + BigInt(i) * 1000n + 500n),
              attributes: [kv('session.id', s.sessionId), kv('enduser.id', 'raw-user-id-must-not-leave')],
              status: {},
            })),
          },
        ],
      },
    ],
  };
}

/** POST an OTLP/JSON body; throws unless the Collector answers 2xx. */
export async function postOtlpJson(baseUrl: string, path: '/v1/logs' | '/v1/traces', body: unknown, headers: Record<string, string> = {}): Promise<void> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${path} -> ${res.status}: ${text.slice(0, 500)}`);
}

/** A received log record, flattened out of OTLP/JSON requests. */
export interface ReceivedLog {
  resource: Record<string, unknown>;
  attributes: Record<string, unknown>;
  body: unknown;
  traceId?: string;
  spanId?: string;
}

function anyValue(v: OtlpAnyValue | undefined): unknown {
  if (!v) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('boolValue' in v) return v.boolValue;
  if ('doubleValue' in v) return v.doubleValue;
  return v;
}

function attrs(list: OtlpKeyValue[] | undefined): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const a of list ?? []) o[a.key] = anyValue(a.value);
  return o;
}

interface JsonLogsRequest {
  resourceLogs?: Array<{
    resource?: { attributes?: OtlpKeyValue[] };
    scopeLogs?: Array<{ logRecords?: Array<{ body?: OtlpAnyValue; attributes?: OtlpKeyValue[]; traceId?: string; spanId?: string }> }>;
  }>;
}
interface JsonTracesRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: Array<{ spans?: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string; attributes?: OtlpKeyValue[] }> }>;
  }>;
}

export function flattenLogs(requests: unknown[]): ReceivedLog[] {
  const out: ReceivedLog[] = [];
  for (const req of requests as JsonLogsRequest[]) {
    for (const rl of req.resourceLogs ?? []) {
      const resource = attrs(rl.resource?.attributes);
      for (const sl of rl.scopeLogs ?? []) {
        for (const lr of sl.logRecords ?? []) {
          out.push({ resource, attributes: attrs(lr.attributes), body: anyValue(lr.body), traceId: lr.traceId, spanId: lr.spanId });
        }
      }
    }
  }
  return out;
}

export function flattenSpans(requests: unknown[]): Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string; attributes: Record<string, unknown>; resource: Record<string, unknown> }> {
  const out = [];
  for (const req of requests as JsonTracesRequest[]) {
    for (const rs of req.resourceSpans ?? []) {
      const resource = attrs(rs.resource?.attributes);
      for (const ss of rs.scopeSpans ?? []) {
        for (const sp of ss.spans ?? []) {
          out.push({ traceId: sp.traceId, spanId: sp.spanId, parentSpanId: sp.parentSpanId, name: sp.name, attributes: attrs(sp.attributes), resource });
        }
      }
    }
  }
  return out;
}

/** Key of an audit record: session id + sequence number. */
export function recordKey(sessionId: unknown, seq: unknown): string {
  return `${String(sessionId)}#${String(seq)}`;
}

/** Prometheus text from the Collector's own telemetry: value of a counter summed over series matching `labels`. */
export async function scrapeCounter(metricsUrl: string, metric: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(metric)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+([0-9.eE+-]+)/.exec(line);
    if (!m || m[1] !== metric) continue;
    const lbl = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}
