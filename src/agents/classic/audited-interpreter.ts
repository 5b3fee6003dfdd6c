import type { AgentSessionOptions } from '../session/options.js';
import type { AuditSession, SessionOutcome } from '../../audit/session.js';
import type { JsonValue } from '../../record/canonical-json.js';
import { LmcConnection } from './lmc/lmc-client.js';
import { resolveContainment, type ContainmentOptions } from './process/contained-spawn.js';
import { startInterpreterServer, type InterpreterServer, type StartInterpreterServerOptions } from './process/supervisor.js';
import { createSessionDetector } from '../session/detector.js';
import { readPendingBlock } from './lmc/pending-block.js';
import { interruptRunningCode } from './process/interrupt-code.js';
import { TurnDriver, type LmcTransport } from './lmc/turn-driver.js';
import type { LmcChunk } from '../session/lmc-chunk.js';
import type { TurnResult } from '../session/turn-result.js';
import { ensureOpenInterpreter } from './process/venv.js';
import { refuseSettings } from '../session/settings.js';
import { openAgentSession, recordFailedStart, throwIfAborted } from '../session/start.js';

/** The shared session options, plus what only Open Interpreter 0.4.3 has. */
export interface AuditedInterpreterOptions extends AgentSessionOptions {
  chunkTimeoutMs?: number;
  /** LLM settings for Open Interpreter (context window, max tokens, Azure api-version, tool-calling mode). */
  llm?: InterpreterLlmSettings;
  /** Sandbox / network / ground truth; defaults from the recorder's config (OI_AUDIT_SANDBOX…). */
  containment?: ContainmentOptions;
}

export type InterpreterLlmSettings = Pick<StartInterpreterServerOptions, 'contextWindow' | 'maxTokens' | 'apiVersion' | 'toolCalling'>;

/**
 * One audited Open Interpreter session: its own `interpreter --server` process, its own LLM proxy
 * token (how each LLM call finds its trace), an authenticated LMC connection, and a TurnDriver
 * that records everything and holds every code block for approval.
 */
export class AuditedInterpreter {
  readonly session: AuditSession;
  private readonly server: InterpreterServer;
  private readonly connection: LmcConnection;
  private readonly driver: TurnDriver;
  private readonly unregister: () => void;
  private processExit: string | undefined;
  private closing = false;
  private stopRequested = false;
  private connectionLost = false;
  private busy: Promise<unknown> = Promise.resolve();

  private constructor(parts: {
    session: AuditSession;
    server: InterpreterServer;
    connection: LmcConnection;
    driver: TurnDriver;
    unregister: () => void;
  }) {
    this.session = parts.session;
    this.server = parts.server;
    this.connection = parts.connection;
    this.driver = parts.driver;
    this.unregister = parts.unregister;
  }

  static async start(options: AuditedInterpreterOptions): Promise<AuditedInterpreter> {
    await ensureOpenInterpreter({ onProgress: options.onProgress });
    const cfg = options.recorder.config;
    const containment: ContainmentOptions = {
      sandbox: cfg.sandbox,
      network: cfg.sandboxNetwork,
      groundTruth: cfg.groundTruth,
      hide: [cfg.sinkDir, cfg.spoolDir],
      ...options.containment,
    };
    const resolved = resolveContainment(containment);
    const session = openAgentSession(options, {
      openInterpreterVersion: '0.4.3',
      containment: { sandbox: resolved.sandbox, network: resolved.network, groundTruth: resolved.groundTruth },
    });
    const registration = options.proxy.register(session);
    let server: InterpreterServer | undefined;
    const checkAborted = (): void => throwIfAborted(options.signal);
    try {
      checkAborted();
      server = await startInterpreterServer({
        llmBaseUrl: registration.baseUrl,
        // The session's proxy key, through OI's environment only: it is the credential that ties its LLM calls to this session.
        llmApiKey: registration.token,
        model: options.model,
        ...options.llm,
        ...(options.workDir ? { workDir: options.workDir } : {}),
        ...(options.startTimeoutMs ? { startTimeoutMs: options.startTimeoutMs } : {}),
        containment: { ...containment, ...resolved },
      });
      server.groundTruth?.attach(session);
      checkAborted();
      const connection = await LmcConnection.connect(server.url, server.apiKey, { timeoutMs: 15_000 });
      if (options.signal?.aborted) {
        await connection.close().catch(() => undefined);
        checkAborted();
      }
      const { httpUrl, apiKey } = server;
      const transport: LmcTransport = {
        sendUserMessage: (text) => connection.sendUserMessage(text),
        sendCommand: (command) => connection.sendCommand(command),
        // What `go` will run, as Open Interpreter holds it: the approval is bound to this, not to the stream.
        pendingBlock: () => readPendingBlock(httpUrl, apiKey),
      };
      const driver = new TurnDriver(session, transport, {
        approve: options.approve,
        // Detection always runs: every execution records its risk, whatever the approval mode.
        detect: createSessionDetector(),
        ...(options.auditHealthy ? { auditHealthy: options.auditHealthy } : {}),
        ...(options.onChunk ? { onChunk: options.onChunk } : {}),
        ...(options.chunkTimeoutMs ? { chunkTimeoutMs: options.chunkTimeoutMs } : {}),
      });
      const interpreter = new AuditedInterpreter({ session, server, connection, driver, unregister: registration.unregister });
      interpreter.wire();
      return interpreter;
    } catch (error) {
      // Processes first: the session's end must not be recorded while its interpreter still runs.
      await server?.stop().catch(() => undefined);
      registration.unregister();
      const message = recordFailedStart(session, error, options.signal);
      throw new Error(`Open Interpreter session could not start: ${message}`, { cause: error });
    }
  }

  private wire(): void {
    this.connection.onChunk((chunk: LmcChunk) => this.driver.push(chunk));
    this.connection.onClose((reason: string) => {
      if (!this.closing) this.connectionLost = true;
      this.driver.close(`connection to Open Interpreter closed: ${reason}`);
    });
    void this.server.exited.then(({ code, signal }) => {
      if (this.stopRequested) return;
      this.processExit = `Open Interpreter process exited (code ${code ?? 'none'}, signal ${signal ?? 'none'})`;
      this.driver.close(this.processExit);
    });
  }

  /** The server's process id (for fault tests and operators). */
  get pid(): number {
    return this.server.pid;
  }

  /** Run one user turn: every chunk is recorded, every code block waits for approval. */
  send(text: string): Promise<TurnResult> {
    if (this.session.isEnded) return Promise.reject(new Error('session has ended'));
    if (this.processExit) return Promise.reject(new Error(this.processExit));
    const turn = this.busy.then(() => this.driver.runTurn(text));
    this.busy = turn.catch(() => undefined);
    return turn;
  }

  /**
   * Interrupt the running turn, as Ctrl-C does at `interpreter`: the turn ends now as `stopped` (recorded),
   * Open Interpreter is told to stop, and the code it is running gets SIGINT.
   */
  async stop(reason = 'the user stopped the turn'): Promise<void> {
    // No turn: nothing to stop (OI's `stop` joins a respond thread that may not exist yet).
    if (!this.driver.interrupt(reason)) return;
    try {
      await this.connection.sendCommand('stop');
    } finally {
      interruptRunningCode(this.server.pid);
    }
  }

  /** A client asked to change Open Interpreter settings: none is forwarded, each refusal is recorded (settings.ts). */
  requestSettings(settings: Record<string, JsonValue>): string[] {
    return refuseSettings(this.session, settings);
  }

  /** End the session: stop the process group, record the end, free the proxy token. Idempotent. */
  async close(outcome?: SessionOutcome): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.connectionLost) {
      // The socket dropped on its own: usually the process died. Give its exit a moment to be observed,
      // so the session ends as process_died rather than complete.
      await Promise.race([this.server.exited, new Promise((r) => setTimeout(r, 3_000).unref())]);
    }
    await this.connection.close().catch(() => undefined);
    this.driver.close('session closing');
    this.stopRequested = true;
    await this.server.stop().catch(() => undefined);
    // A turn still running ends now (its driver is closed); let it record its end before the session's.
    await this.busy;
    this.unregister();
    if (this.processExit) {
      this.session.recordError({ source: 'process', type: 'process_exit', message: this.processExit });
    }
    this.session.end(outcome ?? (this.processExit ? 'process_died' : 'complete'));
  }
}
