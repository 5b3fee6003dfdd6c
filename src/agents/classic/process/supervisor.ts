/**
 * Starts and stops one real Open Interpreter 0.4.3 server (`interpreter --server`) per session.
 *
 * One server process holds exactly one conversation, so each session gets its own process on 127.0.0.1, a free
 * port, a random INTERPRETER_API_KEY, its own config dir, telemetry off, `--offline`, text (markdown) or tool-calling
 * mode, auto-run off, and every LLM call aimed at the audit proxy's route for the model's provider, with the
 * session's proxy key as the provider key (environment only; see llm-routing.ts).
 *
 * Killing it is the hard part (observed with 0.4.3, see docs/open-interpreter-protocol.md):
 * - the Jupyter kernel runs in its own session and process group, so killing the server's group misses it and
 *   anything the kernel started (e.g. a `subprocess.Popen` from generated code outlives everything);
 * - with a shell command running, SIGTERM leaves uvicorn "Waiting for background tasks to complete" for good.
 * So stop() snapshots the whole process tree first, signals every process group in it, and escalates to SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { access, mkdir, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';

import { llmRouting, PROVIDER_ENV_VARS, routeOfModel } from '../llm-routing.js';
import { onTerminationSignal } from '../../../setup/signals.js';
import type { ServerGroundTruth } from './ground-truth/server-ground-truth.js';
import { containedCommand, resolveContainment, type ContainmentOptions, type ResolvedContainment } from './contained-spawn.js';
import { loopbackPort, openNetworkBridge, type NetworkBridge } from '../../sandbox/network-bridge.js';
import { INHERITED_ENV } from '../../process/inherited-env.js';
import { isProcessAlive, processTree, type ProcessEntry } from '../../process/process-tree.js';
import { installPaths, openInterpreterVenvDir } from './venv.js';
import { writeKernelDrainProfile } from './kernel-drain.js';

export interface StartInterpreterServerOptions {
  /** The proxy's OpenAI-style base URL including `/v1`, e.g. `http://127.0.0.1:P/v1` (no secret in it). */
  llmBaseUrl: string;
  /** The session's proxy key, sent as the provider's API key (passed through the environment only, never argv). */
  llmApiKey: string;
  /**
   * Model name as users write it: `gpt-4o-mini` (`openai/` is prefixed), `azure/<deployment>`,
   * `anthropic/<model>`, `ollama/<model>`, `ollama_chat/<model>`. Each is routed to the proxy's route
   * for that provider (llm-routing.ts); other provider prefixes are refused.
   */
  model: string;
  /** Working directory of the server, hence of the code it runs. Default: the session's temp config dir. */
  workDir?: string;
  /** Give up waiting for `GET /heartbeat` after this long. Default 60 s (a cold start takes 3-5 s here). */
  startTimeoutMs?: number;
  /**
   * Extra environment for the server and the code it runs. It cannot override the variables this module sets
   * to keep the audit intact (INTERPRETER_*, HOME, XDG_CONFIG_HOME, every provider key/base variable, LITELLM_LOCAL_MODEL_COST_MAP,
   * DISABLE_TELEMETRY).
   */
  env?: Record<string, string>;
  /** Every line the server prints, as it prints it. */
  onLog?: (stream: 'stdout' | 'stderr', line: string) => void;
  /** LLM context window told to Open Interpreter (it cannot look up an unknown model's). Default 8000. */
  contextWindow?: number;
  /** `max_tokens` for each LLM call. Default 1000. */
  maxTokens?: number;
  /** Azure OpenAI api-version (azure/ models). Default DEFAULT_AZURE_API_VERSION. */
  apiVersion?: string;
  /**
   * Open Interpreter's function-calling mode (code proposed as `execute` tool calls): `on`, `off` (text
   * mode: fenced code blocks), or `auto` (Open Interpreter decides: litellm's supports_function_calling
   * for the model). Default `off`.
   */
  toolCalling?: 'auto' | 'on' | 'off';
  /** Virtualenv holding Open Interpreter. Default: `$OI_AUDIT_VENV` or `<repo>/.venv/oi`. */
  venvDir?: string;
  /** How long stop() waits after SIGTERM before SIGKILL. Default 1000 ms. */
  stopGraceMs?: number;
  /** Sandbox, its network, execution ground truth (defaults from OI_AUDIT_SANDBOX* / OI_AUDIT_GROUND_TRUTH). */
  containment?: ContainmentOptions;
}

export interface InterpreterExit {
  code: number | null;
  signal: string | null;
}

export interface InterpreterServer {
  /** WebSocket URL of the LMC endpoint, `ws://127.0.0.1:<port>/`. */
  url: string;
  /** `http://127.0.0.1:<port>` (heartbeat, settings). */
  httpUrl: string;
  port: number;
  /** INTERPRETER_API_KEY: the WebSocket auth frame value and the X-API-KEY header. */
  apiKey: string;
  pid: number;
  /** Installed open-interpreter version, e.g. "0.4.3". */
  version: string;
  /** Resolves when the server process exits, however that happens. */
  exited: Promise<InterpreterExit>;
  /** The containment that runs: sandbox mode, its network, ground truth. */
  containment: ResolvedContainment;
  /** Sandbox HOME and working directory of the code (same path inside and outside the sandbox). */
  workspace: string;
  /** What approved code really ran, when ground truth is on: attach it to the session. */
  groundTruth: ServerGroundTruth | undefined;
  /** Kills the server and every process it started (kernel, shells, their children); removes its config dir. */
  stop(): Promise<void>;
}

const DEFAULT_START_TIMEOUT_MS = 60_000;
// Short: in 0.4.3 SIGTERM rarely ends the server (uvicorn logs "Waiting for background tasks to complete" and
// stays), and it holds nothing worth a clean shutdown: the WebSocket path saves no conversation.
const DEFAULT_STOP_GRACE_MS = 1_000;
const HEARTBEAT_POLL_MS = 150;
const LOG_LINES_KEPT_FOR_ERRORS = 30;
const PORT_IN_USE_RETRIES = 3;
/**
 * Seconds of silence before the Jupyter language asks the LLM whether the program waits for input (a call that
 * bypasses llm.api_base and confuses a scripted model). A day: effectively off.
 */
const INPUT_PATIENCE_SECONDS = '86400';


/**
 * Starts `interpreter --server` and resolves once `GET /heartbeat` answers.
 *
 * @throws Error saying why: venv missing, process exited early (with its last stderr lines), or heartbeat timeout.
 */
export async function startInterpreterServer(opts: StartInterpreterServerOptions): Promise<InterpreterServer> {
  const venvDir = opts.venvDir ?? openInterpreterVenvDir();
  const { interpreterBin } = installPaths(venvDir);
  try {
    await access(interpreterBin);
  } catch {
    throw new Error(
      `Open Interpreter is not installed: ${interpreterBin} is missing. ` +
        `Run scripts/setup-openinterpreter.sh (or call ensureOpenInterpreter()) first.`,
    );
  }
  if (/^(openai\/)?i$/.test(opts.model)) {
    // Model "i" makes Open Interpreter replace api_base with its hosted service, bypassing the audit proxy.
    throw new Error(`model "${opts.model}" is refused: Open Interpreter routes it to its hosted API, not llmBaseUrl`);
  }
  routeOfModel(opts.model); // throws, before anything starts, for a provider the proxy does not speak
  const version = await installedOpenInterpreterVersion(venvDir);

  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts, interpreterBin, version);
    } catch (err) {
      // The free port is found by binding and releasing it, so another process can take it in between.
      if (err instanceof PortInUseError && attempt < PORT_IN_USE_RETRIES) continue;
      throw err;
    }
  }
}

class PortInUseError extends Error {}

async function startOnce(
  opts: StartInterpreterServerOptions,
  interpreterBin: string,
  version: string,
): Promise<InterpreterServer> {
  const port = await findFreePort();
  const apiKey = randomBytes(24).toString('base64url');
  const configHome = mkdtempSync(join(tmpdir(), 'oi-audit-interpreter-'));
  const xdgConfig = join(configHome, '.config');
  await mkdir(xdgConfig, { recursive: true });

  const args = buildServerArgs(opts);
  // The kernel's IPython directory, with the startup hook that publishes all captured output before a block
  // ends (kernel-drain.ts). Per session and outside the workspace, so nothing is left in a user's directory.
  const ipythonDir = join(configHome, 'ipython');
  writeKernelDrainProfile(ipythonDir);
  let bridge: NetworkBridge | undefined;
  let contained;
  try {
    if (resolveContainment(opts.containment).network === 'none') {
      // Own network namespace: the LLM proxy and this server's port cross on Unix sockets, nothing else does.
      bridge = await openNetworkBridge({ outPorts: [loopbackPort(opts.llmBaseUrl)], inPorts: [port] }).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new PortInUseError(`port ${port} was taken`);
        throw err;
      });
    }
    contained = containedCommand({
      bridge,
      runtimeDirs: [ipythonDir],
      interpreterBin,
      args,
      venvDir: opts.venvDir ?? openInterpreterVenvDir(),
      workDir: opts.workDir,
      uncontainedCwd: configHome,
      containment: opts.containment ?? {},
    });
  } catch (err) {
    await bridge?.close();
    await rm(configHome, { recursive: true, force: true });
    throw err;
  }
  const sandboxed = contained.containment.sandbox === 'bwrap';
  // Sandboxed: HOME and the config dir are the workspace (the only writable place inside).
  const home = sandboxed ? contained.home : configHome;
  const env = buildServerEnv(opts, { port, apiKey, configHome: home, xdgConfig: sandboxed ? join(home, '.config') : xdgConfig });
  if (sandboxed) env['TMPDIR'] = '/tmp';
  env['IPYTHONDIR'] = ipythonDir;

  const child = spawn(contained.command, contained.args, {
    cwd: sandboxed ? contained.workspace : (opts.workDir ?? configHome),
    env,
    detached: true, // own process group, so stop() can signal the server and its shells at once
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) {
    // spawn reports why on the next tick: listen before awaiting anything else.
    const spawnError = await new Promise<Error>((done) => child.once('error', done));
    contained.cleanup();
    await bridge?.close();
    await rm(configHome, { recursive: true, force: true });
    throw new Error(`could not start ${contained.command}: ${spawnError.message}`);
  }

  const recentLog: string[] = [];
  for (const [stream, name] of [
    [child.stdout, 'stdout'],
    [child.stderr, 'stderr'],
  ] as const) {
    createInterface({ input: stream }).on('line', (line) => {
      recentLog.push(`[${name}] ${line}`);
      if (recentLog.length > LOG_LINES_KEPT_FOR_ERRORS) recentLog.shift();
      opts.onLog?.(name, line);
    });
  }

  const exited = new Promise<InterpreterExit>((done) => {
    // 'exit', not 'close': orphaned grandchildren can hold the stdio pipes open long after the server died.
    child.once('exit', (code, signal) => done({ code, signal }));
  });
  const tracked: TrackedServer = { pid, alive: true };
  void exited.then(() => {
    tracked.alive = false;
  });
  trackForParentExit(tracked);

  const stop = memoize(async () => {
    await killServerTree(child, exited, opts.stopGraceMs ?? DEFAULT_STOP_GRACE_MS);
    untrack(tracked);
    contained.cleanup();
    await bridge?.close();
    await rm(configHome, { recursive: true, force: true });
  });

  const httpUrl = `http://127.0.0.1:${port}`;
  try {
    await waitForHeartbeat(httpUrl, exited, opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS, () => recentLog);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: `ws://127.0.0.1:${port}/`,
    httpUrl,
    port,
    apiKey,
    pid,
    version,
    exited,
    stop,
    containment: contained.containment,
    workspace: contained.workspace,
    groundTruth: contained.groundTruth,
  };
}

/** Open Interpreter's command line: the model and proxy base per provider, limits, and the code-proposal mode. No secret. */
export function buildServerArgs(opts: StartInterpreterServerOptions): string[] {
  const routing = llmRouting(opts.model, opts.llmBaseUrl.replace(/\/+$/, '').replace(/\/v1$/, ''), opts.llmApiKey, opts.apiVersion);
  const toolCalling = opts.toolCalling ?? 'off';
  return [
    '--server',
    '--offline', // no PyPI update check, no hosted features
    '--disable_telemetry',
    '--model', routing.model,
    ...(routing.apiBase ? ['--api_base', routing.apiBase] : []),
    // off: text (markdown) mode, code arrives as fenced blocks; on: `execute` tool calls; auto: OI asks litellm.
    ...(toolCalling === 'on' ? ['--llm_supports_functions'] : toolCalling === 'off' ? ['--no-llm_supports_functions'] : []),
    '--context_window', String(opts.contextWindow ?? 8000),
    '--max_tokens', String(opts.maxTokens ?? 1000),
  ];
}

function buildServerEnv(
  opts: StartInterpreterServerOptions,
  s: { port: number; apiKey: string; configHome: string; xdgConfig: string },
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_ENV) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  Object.assign(env, {
    PYTHONUNBUFFERED: '1', // log lines as they happen, not at exit
    PYTHONDONTWRITEBYTECODE: '1',
    INTERPRETER_TERMINAL_INPUT_PATIENCE: INPUT_PATIENCE_SECONDS,
    HF_HUB_OFFLINE: '1',
    ...opts.env,
  });
  // Last, so opts.env cannot weaken them.
  delete env['INTERPRETER_REQUIRE_AUTH'];
  delete env['INTERPRETER_INSECURE_ROUTES'];
  delete env['INTERPRETER_REQUIRE_ACKNOWLEDGE'];
  Object.assign(env, {
    INTERPRETER_HOST: '127.0.0.1',
    INTERPRETER_PORT: String(s.port),
    INTERPRETER_API_KEY: s.apiKey,
    HOME: s.configHome,
    XDG_CONFIG_HOME: s.xdgConfig,
    DISABLE_TELEMETRY: 'true',
    // litellm fetches its cost map from GitHub at first import unless told not to (5 s timeout offline).
    LITELLM_LOCAL_MODEL_COST_MAP: 'True',
  });
  // The provider's key variable holds the session's proxy key; every other provider variable is cleared.
  for (const name of PROVIDER_ENV_VARS) Reflect.deleteProperty(env, name);
  const routing = llmRouting(opts.model, opts.llmBaseUrl.replace(/\/+$/, '').replace(/\/v1$/, ''), opts.llmApiKey, opts.apiVersion);
  Object.assign(env, routing.env);
  return env;
}

async function installedOpenInterpreterVersion(venvDir: string): Promise<string> {
  // The dist-info directory name carries the version; cheaper than starting Python.
  const libDir = join(venvDir, 'lib');
  for (const pythonDir of await readdir(libDir).catch(() => [] as string[])) {
    const sitePackages = join(libDir, pythonDir, 'site-packages');
    for (const entry of await readdir(sitePackages).catch(() => [] as string[])) {
      const match = /^open_interpreter-(.+)\.dist-info$/.exec(entry);
      if (match?.[1]) return match[1];
    }
  }
  throw new Error(`open-interpreter is not installed in ${venvDir} (no open_interpreter-*.dist-info)`);
}

function findFreePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => (port ? resolvePort(port) : reject(new Error('could not find a free port'))));
    });
  });
}

async function waitForHeartbeat(
  httpUrl: string,
  exited: Promise<InterpreterExit>,
  timeoutMs: number,
  recentLog: () => string[],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exit: InterpreterExit | undefined;
  void exited.then((e) => (exit = e));
  while (Date.now() < deadline) {
    if (exit) {
      const log = recentLog();
      const message =
        `Open Interpreter server exited during startup (code ${String(exit.code)}, signal ${String(exit.signal)}). ` +
        `Last output:\n${log.join('\n')}`;
      throw log.some((l) => /address already in use|Errno 98/i.test(l)) ? new PortInUseError(message) : new Error(message);
    }
    if (await heartbeatAnswers(httpUrl)) return;
    await delay(HEARTBEAT_POLL_MS);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for GET ${httpUrl}/heartbeat. Last output:\n${recentLog().join('\n')}`,
  );
}

async function heartbeatAnswers(httpUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${httpUrl}/heartbeat`, { signal: AbortSignal.timeout(1_000) });
    if (!response.ok) return false;
    const body: unknown = await response.json();
    return typeof body === 'object' && body !== null && (body as { status?: unknown }).status === 'alive';
  } catch {
    return false; // not listening yet
  }
}

function memoize(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn());
}

// ---------------------------------------------------------------------------------------------------------------
// Signalling the server's process tree (process-tree.ts finds it)

const ownProcessGroup = ((): number | undefined => {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return undefined;
  }
})();

/**
 * Signals the server's group, every other group found in its tree (the Jupyter kernel's), and each process by
 * pid. Never signals this Node process's own group.
 */
function signalTree(serverPid: number, known: ProcessEntry[], signal: NodeJS.Signals): void {
  const groups = new Set<number>([serverPid, ...known.map((e) => e.pgid)]);
  for (const pgid of groups) {
    if (pgid <= 1 || pgid === ownProcessGroup || pgid === process.pid) continue;
    trySignal(-pgid, signal);
  }
  for (const entry of known) if (entry.pid !== process.pid) trySignal(entry.pid, signal);
}

function trySignal(target: number, signal: NodeJS.Signals): void {
  try {
    process.kill(target, signal);
  } catch {
    // already gone (ESRCH) or not ours to signal
  }
}


function mergeByPid(a: ProcessEntry[], b: ProcessEntry[]): ProcessEntry[] {
  const byPid = new Map<number, ProcessEntry>();
  for (const entry of [...a, ...b]) byPid.set(entry.pid, entry);
  return [...byPid.values()];
}

async function killServerTree(child: ChildProcess, exited: Promise<InterpreterExit>, graceMs: number): Promise<void> {
  const serverPid = child.pid!;
  // Snapshot before signalling: once the server dies its children are re-parented and can no longer be found.
  let known = processTree(serverPid);
  signalTree(serverPid, known, 'SIGTERM');

  const exitedInTime = await Promise.race([exited.then(() => true), delay(graceMs).then(() => false)]);
  known = mergeByPid(known, processTree(serverPid));
  const stragglers = known.filter((e) => isProcessAlive(e.pid));
  if (!exitedInTime || stragglers.length > 0) signalTree(serverPid, known, 'SIGKILL');
  await exited;

  // SIGKILL is not instant: wait (bounded) until every process we knew of is gone.
  const deadline = Date.now() + 5_000;
  while (known.some((e) => isProcessAlive(e.pid)) && Date.now() < deadline) await delay(50);
}

// ---------------------------------------------------------------------------------------------------------------
// Parent exit: never leave a server (and the code it runs) behind.

interface TrackedServer {
  pid: number;
  alive: boolean;
}

const liveServers = new Set<TrackedServer>();

function killAllTrackedNow(): void {
  for (const server of liveServers) {
    if (server.alive) signalTree(server.pid, processTree(server.pid), 'SIGKILL');
  }
  liveServers.clear();
}

// A termination signal: the coordinator's last phase (after sessions ended and the audit flushed) kills
// whatever is still tracked; the coordinator decides how the process exits.
let removeSignalStep: (() => void) | undefined;

function installParentHooks(): void {
  if (removeSignalStep) return;
  process.on('exit', killAllTrackedNow);
  removeSignalStep = onTerminationSignal('processes', killAllTrackedNow);
}

function uninstallParentHooks(): void {
  process.off('exit', killAllTrackedNow);
  removeSignalStep?.();
  removeSignalStep = undefined;
}

function trackForParentExit(server: TrackedServer): void {
  liveServers.add(server);
  installParentHooks();
}

function untrack(server: TrackedServer): void {
  liveServers.delete(server);
  if (liveServers.size === 0) uninstallParentHooks();
}
