/**
 * A client for `codex app-server` (and the Rust Open Interpreter's `interpreter app-server`): JSON-RPC over
 * the child's stdio, one JSON object per line, no `"jsonrpc"` field. Requests we send get ids; requests the
 * server sends (approvals) are handed to `onRequest` and answered with `respond`.
 *
 * Frames are bounded (a line longer than `maxFrameBytes` is dropped and reported, never buffered whole), a
 * frame that is not a JSON object is reported through `onProtocolError`, and the child runs in its own process
 * group so stopping it also stops the shells it started.
 */
import { isProcessAlive, processTree } from '../process/process-tree.js';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { isObject } from '../../record/json-shape.js';

export type JsonRpcId = number | string;

export interface RpcError {
  code: number;
  message: string;
  data?: unknown;
}

export class RpcRequestError extends Error {
  override name = 'RpcRequestError';
  constructor(
    readonly method: string,
    readonly error: RpcError,
  ) {
    super(`${method} failed: ${error.message} (code ${error.code})`);
  }
}

export interface AppServerOptions {
  bin: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Longest frame accepted from the server. Default 64 MiB. */
  maxFrameBytes?: number;
  /** Bytes of the server's stderr kept for error messages. Default 16 KiB. */
  stderrTailBytes?: number;
}

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

type Pending = { method: string; resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout | undefined };


export class AppServerConnection {
  readonly exited: Promise<ProcessExit>;
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly pending = new Map<JsonRpcId, Pending>();
  private nextId = 1;
  private closedReason: string | undefined;
  private stderrTail = '';
  private readonly stderrTailBytes: number;
  private notificationHandler: (method: string, params: Record<string, unknown>) => void = () => undefined;
  private requestHandler: (id: JsonRpcId, method: string, params: Record<string, unknown>) => void = () => undefined;
  private protocolErrorHandler: (message: string) => void = () => undefined;
  private closeHandlers: ((reason: string) => void)[] = [];
  /** Every process seen below the server (refreshed each second): what must not outlive it. */
  private readonly descendants = new Set<number>();

  constructor(options: AppServerOptions) {
    const maxFrame = options.maxFrameBytes ?? 64 * 1024 * 1024;
    this.stderrTailBytes = options.stderrTailBytes ?? 16 * 1024;
    this.child = spawn(options.bin, options.args, { cwd: options.cwd, env: options.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => resolve({ code, signal }));
      this.child.on('error', (err) => {
        this.close(`could not run ${options.bin}: ${err.message}`);
        resolve({ code: null, signal: null });
      });
    });
    void this.exited.then(({ code, signal }) => this.close(`app-server exited (code ${code ?? 'none'}, signal ${signal ?? 'none'})`));
    // A server that dies (killed, crashed) leaves its commands running, re-parented where no tree walk finds
    // them: the ones seen are killed when it exits.
    const watch = setInterval(() => this.refreshDescendants(), 1_000);
    watch.unref();
    void this.exited.then(() => {
      clearInterval(watch);
      this.killDescendants('SIGKILL');
    });
    this.child.stdin.on('error', () => undefined); // EPIPE after the child died: the exit is reported instead
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString('utf8')).slice(-this.stderrTailBytes);
    });

    // Line splitter with a bound: a frame over maxFrame is discarded up to its newline and reported.
    let parts: Buffer[] = [];
    let size = 0;
    let discarding = false;
    this.child.stdout.on('data', (chunk: Buffer) => {
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, start);
        const end = nl === -1 ? chunk.length : nl;
        if (!discarding) {
          if (size + (end - start) > maxFrame) {
            discarding = true;
            parts = [];
            size = 0;
            this.protocolErrorHandler(`a frame from the app-server exceeded ${maxFrame} bytes and was dropped`);
          } else if (end > start) {
            parts.push(chunk.subarray(start, end));
            size += end - start;
          }
        }
        if (nl === -1) break;
        if (!discarding) this.frame(Buffer.concat(parts).toString('utf8'));
        parts = [];
        size = 0;
        discarding = false;
        start = nl + 1;
      }
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Last bytes the server wrote to stderr (for error messages). */
  get stderr(): string {
    return this.stderrTail;
  }

  get isClosed(): boolean {
    return this.closedReason !== undefined;
  }

  onNotification(handler: (method: string, params: Record<string, unknown>) => void): void {
    this.notificationHandler = handler;
  }

  onRequest(handler: (id: JsonRpcId, method: string, params: Record<string, unknown>) => void): void {
    this.requestHandler = handler;
  }

  onProtocolError(handler: (message: string) => void): void {
    this.protocolErrorHandler = handler;
  }

  onClose(handler: (reason: string) => void): void {
    if (this.closedReason) handler(this.closedReason);
    else this.closeHandlers.push(handler);
  }

  private frame(line: string): void {
    if (line.trim().length === 0) return;
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch (err) {
      this.protocolErrorHandler(`app-server sent a line that is not JSON (${(err as Error).message}): ${line.slice(0, 200)}`);
      return;
    }
    if (!isObject(message)) {
      this.protocolErrorHandler(`app-server sent JSON that is not an object: ${line.slice(0, 200)}`);
      return;
    }
    const id = message.id;
    const hasId = typeof id === 'number' || typeof id === 'string';
    const method = typeof message.method === 'string' ? message.method : undefined;
    const params = isObject(message.params) ? message.params : {};
    if (method !== undefined) {
      if (hasId) this.requestHandler(id, method, params);
      else this.notificationHandler(method, params);
      return;
    }
    if (!hasId) {
      this.protocolErrorHandler(`app-server sent an object that is neither request, response nor notification: ${line.slice(0, 200)}`);
      return;
    }
    const pending = this.pending.get(id);
    if (!pending) {
      this.protocolErrorHandler(`app-server answered request id ${JSON.stringify(id)}, which is not pending`);
      return;
    }
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if (isObject(message.error)) {
      const e = message.error;
      pending.reject(new RpcRequestError(pending.method, { code: typeof e.code === 'number' ? e.code : 0, message: typeof e.message === 'string' ? e.message : JSON.stringify(e) }));
    } else pending.resolve(message.result);
  }

  private write(message: Record<string, unknown>): void {
    if (this.closedReason) throw new Error(this.closedReason);
    this.child.stdin.write(`${JSON.stringify(message)}\n`);
  }

  /** Send a request; resolves with its result, rejects on an error reply, a timeout or the server's end. */
  request<T = unknown>(method: string, params: unknown, options: { timeoutMs?: number; extra?: Record<string, unknown> } = {}): Promise<T> {
    if (this.closedReason) return Promise.reject(new Error(this.closedReason));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.pending.delete(id);
              reject(new Error(`${method}: no answer from the app-server within ${Math.round(options.timeoutMs! / 1000)} s`));
            }, options.timeoutMs);
      this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject, timer });
      try {
        this.write({ method, id, params, ...options.extra });
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  notify(method: string, params?: unknown): void {
    this.write(params === undefined ? { method } : { method, params });
  }

  /** Answer a server request. Silently dropped once the server is gone (nothing can act on it then). */
  respond(id: JsonRpcId, result: unknown): void {
    if (!this.closedReason) this.write({ id, result });
  }

  respondError(id: JsonRpcId, error: RpcError): void {
    if (!this.closedReason) this.write({ id, error });
  }

  private close(reason: string): void {
    if (this.closedReason) return;
    this.closedReason = reason;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error(`${p.method}: ${reason}`));
      this.pending.delete(id);
    }
    for (const h of this.closeHandlers.splice(0)) {
      try {
        h(reason);
      } catch {
        // a handler's bug must not stop the others
      }
    }
  }

  /** Stop the server and everything it started (its process group): SIGTERM, then SIGKILL after `graceMs`. */
  private refreshDescendants(): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    // The dead are forgotten (their pids may be reused); the living below the server are added.
    for (const p of this.descendants) if (!isProcessAlive(p)) this.descendants.delete(p);
    for (const e of processTree(pid)) if (e.pid !== pid) this.descendants.add(e.pid);
  }

  private killDescendants(s: NodeJS.Signals): void {
    for (const p of this.descendants) {
      try {
        process.kill(p, s);
      } catch {
        this.descendants.delete(p); // gone
      }
    }
  }

  async stop(graceMs = 3_000): Promise<ProcessExit> {
    const pid = this.child.pid;
    if (pid !== undefined && this.child.exitCode === null && this.child.signalCode === null) {
      // Snapshot the tree first: Codex runs commands in sessions of their own (PTYs) and hooks as its children;
      // once it dies they are re-parented and could no longer be found, and a group signal does not reach them.
      this.refreshDescendants();
      const known = this.descendants;
      const signal = (s: NodeJS.Signals) => {
        try {
          process.kill(-pid, s);
        } catch {
          try {
            this.child.kill(s);
          } catch {
            // already gone
          }
        }
        this.killDescendants(s);
      };
      this.child.stdin.end();
      signal('SIGTERM');
      const timer = setTimeout(() => signal('SIGKILL'), graceMs);
      timer.unref();
      await this.exited;
      clearTimeout(timer);
      // Whatever the server started may outlive it: make sure none is left, and wait (bounded) until they are gone.
      signal('SIGKILL');
      const deadline = Date.now() + 5_000;
      while ([...known].some((p) => isProcessAlive(p)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    }
    return this.exited;
  }
}
