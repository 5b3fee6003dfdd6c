/**
 * One audited session of the Rust Open Interpreter (tested against its code base, Codex 0.148.0): its own
 * `app-server` process with a home oi-audit generated, its own LLM proxy token, its own hook socket, and a
 * TurnRecorder that records every turn and gates every tool call. The same public surface as the classic
 * AuditedInterpreter (start, send, stop, close, requestSettings), so demo/chat/gateway can pick either.
 */
import type { AuditSession, SessionOutcome } from '../../audit/session.js';
import type { AuditTurn } from '../../audit/turn.js';
import type { AgentSessionOptions } from '../session/options.js';
import { refuseSettings } from '../session/settings.js';
import { openAgentSession, recordFailedStart, throwIfAborted } from '../session/start.js';
import { createSessionDetector } from '../session/detector.js';
import type { LmcChunk } from '../session/lmc-chunk.js';
import type { TurnResult } from '../session/turn-result.js';
import type { JsonValue } from '../../record/canonical-json.js';
import { AppServerConnection } from './app-server-client.js';
import { LmcChunkMapper } from './lmc-chunks.js';
import { ensureRustAgent, type RustAgentBinary } from './binary.js';
import { startHookServer, type HookServer } from './hook-server.js';
import { createSessionHome, HOOK_TOKEN_ENV, PROXY_KEY_ENV, threadStartOverrides, type SandboxMode, type SessionHome } from './home.js';
import { TurnRecorder } from './turn-recorder.js';
import { containedAppServer, resolveRustContainment, type RustContainment } from './contained-app-server.js';
import { dirname } from 'node:path';
import { loopbackPort, openNetworkBridge, type NetworkBridge } from '../sandbox/network-bridge.js';

/** The shared session options, plus what only the Codex-based agent has. */
export interface AuditedRustInterpreterOptions extends AgentSessionOptions {
  /** Directory the agent works in (its commands run there). Required: the sandbox's writable root. */
  workDir: string;
  /** Codex's sandbox for the commands it runs. Default `workspace-write`. */
  sandbox?: SandboxMode;
  /** Longest silence in a turn (no message from the agent, no approval pending) before it is interrupted. Default 300 s. */
  turnIdleTimeoutMs?: number;
  /** Seconds Codex waits for the PreToolUse hook (a human approval happens inside it). Default 600. */
  hookTimeoutSec?: number;
  /** Each app-server notification, after it is recorded (a terminal client prints deltas). Errors are swallowed. */
  onNotification?: (method: string, params: Record<string, unknown>) => void;
  /** Our bubblewrap sandbox around the app-server. Default: the recorder's config (OI_AUDIT_SANDBOX*). */
  containment?: Partial<RustContainment>;
}

/** gen_ai.agent.name per binary kind. */
export function agentName(kind: RustAgentBinary['kind']): string {
  return kind === 'interpreter' ? 'open-interpreter-rust' : 'codex';
}

/**
 * The agent's environment: this process's, minus everything that configures Codex, the Rust Open
 * Interpreter or an OpenAI client (so neither a stray CODEX_* variable nor OPENAI_BASE_URL can move or weaken
 * it), plus the session's home, proxy key and hook token.
 */
export function agentEnvironment(base: NodeJS.ProcessEnv, home: string, hookToken: string, proxyKey: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) {
    if (/^(CODEX_|OPENAI_|INTERPRETER_|OI_AUDIT_|RUST_LOG$)/.test(key)) continue;
    env[key] = value;
  }
  env.CODEX_HOME = home;
  env.INTERPRETER_HOME = home;
  // The session's proxy credential (Codex sends it as its provider key); the upstream key stays with the proxy.
  env[PROXY_KEY_ENV] = proxyKey;
  env[HOOK_TOKEN_ENV] = hookToken;
  return env;
}

export class AuditedRustInterpreter {
  readonly session: AuditSession;
  readonly binary: RustAgentBinary;
  private readonly connection: AppServerConnection;
  private readonly recorder: TurnRecorder;
  private readonly home: SessionHome;
  private readonly hookServer: HookServer;
  private readonly bridge: NetworkBridge | undefined;
  private readonly unregister: () => void;
  private readonly idleTimeoutMs: number;
  private threadId = '';
  private processExit: string | undefined;
  private closing = false;
  private busy: Promise<unknown> = Promise.resolve();
  private lastMessageAt = Date.now();
  private display: ((method: string, params: Record<string, unknown>) => void) | undefined;

  private constructor(parts: {
    session: AuditSession;
    binary: RustAgentBinary;
    connection: AppServerConnection;
    recorder: TurnRecorder;
    home: SessionHome;
    hookServer: HookServer;
    bridge: NetworkBridge | undefined;
    unregister: () => void;
    idleTimeoutMs: number;
  }) {
    this.session = parts.session;
    this.binary = parts.binary;
    this.connection = parts.connection;
    this.recorder = parts.recorder;
    this.home = parts.home;
    this.hookServer = parts.hookServer;
    this.bridge = parts.bridge;
    this.unregister = parts.unregister;
    this.idleTimeoutMs = parts.idleTimeoutMs;
  }

  static async start(options: AuditedRustInterpreterOptions): Promise<AuditedRustInterpreter> {
    const binary = await ensureRustAgent(options.onProgress ? { onProgress: options.onProgress } : {});
    const sandbox = options.sandbox ?? 'workspace-write';
    const cfg = options.recorder.config;
    const containment = resolveRustContainment({ sandbox: cfg.sandbox, network: cfg.sandboxNetwork, ...options.containment });
    const session = openAgentSession(options, {
      agent: { name: agentName(binary.kind), version: binary.version, kind: binary.kind, binary: binary.path },
      // No execution ground truth for this agent (no strace): what ran is what Codex reports.
      containment: { sandbox: containment.sandbox, network: containment.network, groundTruth: 'off' },
    });
    const registration = options.proxy.register(session);
    let home: SessionHome | undefined;
    let hookServer: HookServer | undefined;
    let connection: AppServerConnection | undefined;
    let bridge: NetworkBridge | undefined;
    const checkAborted = (): void => throwIfAborted(options.signal);
    try {
      checkAborted();
      home = createSessionHome({
        kind: binary.kind,
        llmBaseUrl: registration.baseUrl,
        model: options.model,
        sandbox,
        workDir: options.workDir,
        hookTimeoutSec: options.hookTimeoutSec ?? 600,
      });
      // The recorder needs the connection and the hook server needs the recorder: late-bound through `late`.
      const late: { self?: AuditedRustInterpreter } = {};
      const h = home;
      hookServer = await startHookServer({
        socketPath: h.socketPath,
        handle: async (input) => {
          if (!late.self) return { decision: 'deny', reason: 'oi-audit: the session is not ready: denied' };
          return late.self.recorder.hook(input);
        },
        onRejected: (why) => {
          if (!session.isEnded) session.recordError({ source: 'audit', type: 'hook_request_rejected', message: why });
        },
      });
      // Own network namespace: the proxy's port crosses on a Unix socket, nothing else does.
      if (containment.sandbox === 'bwrap' && containment.network === 'none') bridge = await openNetworkBridge({ outPorts: [loopbackPort(registration.baseUrl)], inPorts: [] });
      const spawnPlan = containedAppServer({
        ...(bridge ? { bridge } : {}),
        bin: binary.path,
        args: ['app-server'],
        workDir: options.workDir,
        homeDir: h.dir,
        socketDir: dirname(h.socketPath),
        env: agentEnvironment(process.env, h.dir, hookServer.token, registration.token),
        keepEnv: ['CODEX_HOME', 'INTERPRETER_HOME', PROXY_KEY_ENV, HOOK_TOKEN_ENV],
        containment,
        hide: [cfg.sinkDir, cfg.spoolDir],
      });
      connection = new AppServerConnection({ bin: spawnPlan.command, args: spawnPlan.args, cwd: options.workDir, env: spawnPlan.env });
      checkAborted();
      const conn = connection;
      const recorder = new TurnRecorder(
        session,
        {
          respond: (id, result) => conn.respond(id, result),
          respondError: (id, error) => conn.respondError(id, error),
          interrupt: (turnId) => {
            void conn.request('turn/interrupt', { threadId: late.self?.threadId ?? '', turnId }, { timeoutMs: 10_000 }).catch(() => undefined);
          },
        },
        { approve: options.approve, detect: createSessionDetector(), ...(options.auditHealthy ? { auditHealthy: options.auditHealthy } : {}) },
      );
      const self = new AuditedRustInterpreter({
        session,
        binary,
        connection,
        recorder,
        home,
        hookServer,
        bridge,
        unregister: registration.unregister,
        idleTimeoutMs: options.turnIdleTimeoutMs ?? 300_000,
      });
      self.display = options.onNotification;
      late.self = self;
      self.wire(options.onChunk);
      await self.handshake(options.workDir, sandbox, options.model, options.startTimeoutMs ?? 60_000);
      checkAborted();
      return self;
    } catch (error) {
      const stderr = connection?.stderr.trim();
      // Processes first: the session's end must not be recorded while its agent still runs.
      await connection?.stop().catch(() => undefined);
      await hookServer?.close().catch(() => undefined);
      await bridge?.close().catch(() => undefined);
      registration.unregister();
      const message = recordFailedStart(session, error, options.signal, stderr ? stderr.slice(-2000) : undefined);
      home?.remove();
      throw new Error(`Rust Open Interpreter session could not start: ${message}`, { cause: error });
    }
  }

  private wire(onChunk: ((chunk: LmcChunk) => void) | undefined): void {
    const chunks = new LmcChunkMapper();
    this.connection.onNotification((method, params) => {
      this.lastMessageAt = Date.now();
      try {
        this.recorder.notification(method, params);
      } catch (err) {
        this.auditFailure(err);
      }
      // After recording: a client sees only what the trail already holds.
      if (onChunk) for (const chunk of chunks.chunksOf(method, params)) onChunk(chunk);
      try {
        this.display?.(method, params);
      } catch {
        // A display bug must not break the audit.
      }
    });
    this.connection.onRequest((id, method, params) => {
      this.lastMessageAt = Date.now();
      this.recorder.request(id, method, params).catch((err: unknown) => {
        this.auditFailure(err);
        this.connection.respond(id, { decision: 'decline' });
      });
    });
    this.connection.onProtocolError((message) => {
      try {
        this.recorder.protocolError('malformed_frame', message);
      } catch (err) {
        this.auditFailure(err);
      }
    });
    void this.connection.exited.then(({ code, signal }) => {
      if (this.closing) return;
      this.processExit = `the agent's app-server exited (code ${code ?? 'none'}, signal ${signal ?? 'none'})`;
      this.recorder.abort('error', { source: 'process', type: 'process_exit', message: this.processExit });
    });
  }

  /**
   * Recording threw: the session has ended (a late message from a dying process) or the audit pipeline broke.
   * Nothing more can be recorded; requests are declined by the caller (fail-closed), notifications dropped.
   */
  private auditFailure(_err: unknown): void {
    this.droppedMessages++;
  }

  /** Agent messages that could not be recorded (arrived after the session ended). */
  droppedMessages = 0;

  private async handshake(workDir: string, sandbox: SandboxMode, model: string, timeoutMs: number): Promise<void> {
    await this.connection.request('initialize', { clientInfo: { name: 'oi-audit', title: 'oi-audit', version: '0.1.0' }, capabilities: null }, { timeoutMs });
    this.connection.notify('initialized');
    const overrides = threadStartOverrides({ sandbox });
    const result = await this.connection.request<Record<string, unknown>>('thread/start', { cwd: workDir, model, ...overrides }, { timeoutMs });
    const thread = result && typeof result.thread === 'object' && result.thread !== null ? (result.thread as Record<string, unknown>) : {};
    if (typeof thread.id !== 'string' || thread.id.length === 0) throw new Error('thread/start returned no thread id');
    // The settings the audit depends on, as the agent reports it applied them: refuse to run on anything else.
    const policy = result.approvalPolicy;
    const sandboxType = typeof result.sandbox === 'object' && result.sandbox !== null ? (result.sandbox as Record<string, unknown>).type : undefined;
    const expectedSandbox = { 'read-only': 'readOnly', 'workspace-write': 'workspaceWrite', 'danger-full-access': 'dangerFullAccess' }[sandbox];
    if (policy !== 'untrusted' || sandboxType !== expectedSandbox) {
      throw new Error(`the agent did not apply the audited settings (approval ${JSON.stringify(policy)}, sandbox ${JSON.stringify(sandboxType)}; expected "untrusted", "${expectedSandbox}")`);
    }
    this.threadId = thread.id;
    this.recorder.setThread(thread.id);
    this.session.bindConversation(thread.id);
  }

  get pid(): number {
    return this.connection.pid;
  }

  /** The agent's thread id (gen_ai.conversation.id of the session). */
  get thread(): string {
    return this.threadId;
  }

  /** The per-session hook socket (for operators and fault tests). */
  get hookSocketPath(): string {
    return this.home.socketPath;
  }

  /** Where the session's generated config lives (for operators and tests). */
  get homeDir(): string {
    return this.home.dir;
  }

  /** Run one user turn: every item is recorded, every tool call gated. */
  send(text: string): Promise<TurnResult> {
    if (this.session.isEnded) return Promise.reject(new Error('session has ended'));
    if (this.processExit) return Promise.reject(new Error(this.processExit));
    const turn = this.busy.then(() => this.runTurn(text));
    this.busy = turn.catch(() => undefined);
    return turn;
  }

  private async runTurn(text: string): Promise<TurnResult> {
    const turn: AuditTurn = this.recorder.begin(text);
    const ctx = turn.span.spanContext();
    const traceparent = `00-${ctx.traceId}-${ctx.spanId}-0${(ctx.traceFlags & 1).toString(16)}`;
    let outcome: Awaited<typeof this.recorder.finished>;
    try {
      if (this.processExit) throw new Error(this.processExit);
      const result = await this.connection.request<Record<string, unknown>>(
        'turn/start',
        { threadId: this.threadId, input: [{ type: 'text', text, text_elements: [] }] },
        { timeoutMs: 60_000, extra: { trace: { traceparent } } },
      );
      const codexTurn = result && typeof result.turn === 'object' && result.turn !== null ? (result.turn as Record<string, unknown>) : {};
      if (typeof codexTurn.id === 'string') this.recorder.started(codexTurn.id);
      outcome = await this.awaitTurn();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.recorder.abort('error', { source: 'process', type: this.processExit ? 'process_exit' : 'connection_lost', message });
      outcome = 'error';
    }
    return this.recorder.end(outcome);
  }

  /** Wait for turn/completed; a turn silent for idleTimeoutMs (no approval pending) is interrupted. */
  private async awaitTurn() {
    let lastActivity = Date.now();
    const touch = () => (lastActivity = Date.now());
    this.lastMessageAt = lastActivity;
    const finished = this.recorder.finished;
    for (;;) {
      const tick = new Promise<'tick'>((r) => setTimeout(() => r('tick'), Math.min(this.idleTimeoutMs, 1_000)).unref());
      const winner = await Promise.race([finished, tick]);
      if (winner !== 'tick') return winner;
      if (this.recorder.pendingDecisions > 0) touch();
      if (Date.now() - Math.max(lastActivity, this.lastMessageAt) >= this.idleTimeoutMs) {
        const turnId = this.recorder.codexTurnId;
        if (turnId) void this.connection.request('turn/interrupt', { threadId: this.threadId, turnId }, { timeoutMs: 10_000 }).catch(() => undefined);
        this.recorder.abort('stopped', { source: 'server', type: 'timeout', message: `no message from the agent for ${Math.round(this.idleTimeoutMs / 1000)} s` });
        return finished;
      }
    }
  }

  /** Interrupt the running turn. */
  async stop(): Promise<void> {
    const turnId = this.recorder.codexTurnId;
    if (turnId) await this.connection.request('turn/interrupt', { threadId: this.threadId, turnId }, { timeoutMs: 10_000 });
  }

  /** Settings are never passed through to the agent (its config is generated per session); each attempt is recorded (settings.ts). */
  requestSettings(settings: Record<string, JsonValue>): string[] {
    return refuseSettings(this.session, settings);
  }

  /** End the session: stop the process group, record the end, free the proxy token and the home. Idempotent. */
  async close(outcome?: SessionOutcome): Promise<void> {
    if (this.closing) return;
    const died = this.processExit;
    this.closing = true;
    await this.connection.stop().catch(() => undefined);
    // A turn still running ends now (the process is gone); let it record its end before the session's.
    if (!died) this.recorder.abort('interrupted', { source: 'process', type: 'session_closed', message: 'session closed while the turn was running' });
    await this.busy;
    await this.hookServer.close().catch(() => undefined);
    await this.bridge?.close().catch(() => undefined);
    this.unregister();
    if (died) this.session.recordError({ source: 'process', type: 'process_exit', message: died });
    this.session.end(outcome ?? (died ? 'process_died' : 'complete'));
    this.home.remove();
  }
}
