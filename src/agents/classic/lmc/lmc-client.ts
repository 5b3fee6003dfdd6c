/**
 * Low-level client for Open Interpreter's LMC WebSocket protocol (`interpreter --server`, 0.4.3). No audit
 * logic: it authenticates, frames what it sends, validates what it receives, and never leaves a consumer waiting
 * on a dead socket. See docs/open-interpreter-protocol.md for the frame sequences it carries.
 *
 * Two ways to consume what the server sends; use one per connection:
 * - pull: `next()`, `for await (const event of connection)`, or `nextTurnEnd()`. Everything received after
 *   authentication is buffered until pulled.
 * - push: `onChunk()` (+ `onProtocolError()`, `onClose()`). Registering the first `onChunk` listener hands it
 *   whatever was buffered and switches the connection to push mode; pull calls then throw.
 */
import WebSocket from 'ws';
import type { LmcChunk } from '../../session/lmc-chunk.js';

export type LmcEvent =
  | { kind: 'chunk'; chunk: LmcChunk }
  /** A frame that is not an LMC chunk: not JSON, not an object, no `role`, or binary. */
  | { kind: 'protocol-error'; message: string; raw: string }
  /** The socket is gone. Always the last event; pulling after it returns it again. */
  | { kind: 'closed'; reason: string; code: number; error?: Error };

export interface LmcTurnEnd {
  /**
   * `complete`: the server sent `{"role":"server","type":"status","content":"complete"}` (also after an error,
   * and when the turn stopped on a code block awaiting `go`); `closed`: the socket closed first; `timeout`: no
   * end within the time given (e.g. after `stop`, which in 0.4.3 sends nothing at all).
   */
  outcome: 'complete' | 'closed' | 'timeout';
  /** Every chunk of the turn, in order, including server error chunks and the final `complete` status. */
  chunks: LmcChunk[];
  /** `content` of each `{"role":"server","type":"error"}` chunk (a Python traceback). */
  serverErrors: string[];
  protocolErrors: string[];
  /** Set when outcome is `closed`. */
  closeReason?: string;
}

export interface LmcConnectOptions {
  /** Limit for the WebSocket handshake plus the auth reply. Default 10 s. */
  timeoutMs?: number;
}

/** Thrown by `next(timeoutMs)` when nothing arrived in time. */
export class LmcTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no LMC frame within ${timeoutMs} ms`);
    this.name = 'LmcTimeoutError';
  }
}

/** Synthesised chunk format used in push mode for a protocol error nobody registered `onProtocolError` for. */
export const PROTOCOL_ERROR_FORMAT = 'oi-audit-protocol-error';

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const CLOSE_WAIT_MS = 2_000;
const RAW_EXCERPT_CHARS = 200;

type Waiter = (event: LmcEvent) => void;

/** A listener's exception must not stop delivery to the others or break the socket's event handler. */
function callSafely(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    process.emitWarning(`LmcConnection listener threw: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Parses one text frame; a string describing the problem when it is not an LMC chunk. */
export function parseLmcFrame(text: string): LmcChunk | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `frame is not JSON (${(err as Error).message})`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return `frame is not a JSON object (${Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value})`;
  }
  const record = value as Record<string, unknown>;
  if (typeof record['role'] !== 'string') return 'frame has no string "role": not an LMC chunk';
  return record as LmcChunk;
}

export function isCompleteStatus(chunk: LmcChunk): boolean {
  return chunk.role === 'server' && chunk.type === 'status' && chunk.content === 'complete';
}

export function isServerError(chunk: LmcChunk): boolean {
  return chunk.role === 'server' && chunk.type === 'error';
}

function excerpt(text: string): string {
  return text.length > RAW_EXCERPT_CHARS ? `${text.slice(0, RAW_EXCERPT_CHARS)}…` : text;
}

function rawDataToString(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function rawDataLength(data: WebSocket.RawData): number {
  if (Array.isArray(data)) return data.reduce((n, b) => n + b.length, 0);
  return data.byteLength;
}

export class LmcConnection implements AsyncIterable<LmcEvent> {
  private readonly buffered: LmcEvent[] = [];
  private waiter: Waiter | undefined;
  private closedEvent: Extract<LmcEvent, { kind: 'closed' }> | undefined;
  private socketError: Error | undefined;
  private readonly chunkListeners: ((chunk: LmcChunk) => void)[] = [];
  private readonly protocolErrorListeners: ((message: string, raw: string) => void)[] = [];
  private readonly closeListeners: ((reason: string) => void)[] = [];
  private pushMode = false;

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => this.receive(data, isBinary));
    socket.on('error', (err) => {
      this.socketError ??= err;
    });
    socket.on('close', (code, reason) => this.handleClose(code, reason.toString('utf8')));
  }

  /**
   * Opens the WebSocket, sends `{"auth": apiKey}` and resolves once the server answers `{"auth": true}`.
   *
   * @throws Error when the server answers `{"auth": false}`, closes, fails, or does not answer in time.
   */
  static connect(url: string, apiKey: string, options: LmcConnectOptions = {}): Promise<LmcConnection> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const socket = new WebSocket(url, { handshakeTimeout: timeoutMs, perMessageDeflate: false });

    return new Promise((resolve, reject) => {
      let settled = false;
      const cleanup = (): void => {
        clearTimeout(timer);
        socket.off('open', onOpen);
        socket.off('message', onAuthReply);
        socket.off('error', onError);
        socket.off('close', onClose);
      };
      const fail = (message: string): void => {
        if (settled) return;
        settled = true;
        cleanup();
        socket.on('error', () => undefined); // terminate() may still report; nobody is listening any more
        socket.terminate();
        reject(new Error(`LMC connect to ${url} failed: ${message}`));
      };
      const onOpen = (): void => {
        socket.send(JSON.stringify({ auth: apiKey }));
      };
      const onAuthReply = (data: WebSocket.RawData, isBinary: boolean): void => {
        const text = rawDataToString(data);
        let reply: unknown;
        try {
          reply = isBinary ? undefined : JSON.parse(text);
        } catch {
          reply = undefined;
        }
        const auth = typeof reply === 'object' && reply !== null ? (reply as { auth?: unknown }).auth : undefined;
        if (auth === true) {
          settled = true;
          cleanup();
          // Constructed in the same tick as the auth reply, so no later frame can slip past unhandled.
          resolve(new LmcConnection(socket));
        } else if (auth === false) {
          fail('authentication rejected by the server ({"auth": false}): wrong INTERPRETER_API_KEY?');
        } else {
          fail(`expected the auth reply, got ${isBinary ? 'a binary frame' : excerpt(text)}`);
        }
      };
      const onError = (err: Error): void => fail(err.message);
      const onClose = (code: number, reason: Buffer): void =>
        fail(`socket closed before authentication (code ${code}${reason.length ? `: ${reason.toString('utf8')}` : ''})`);
      const timer = setTimeout(() => fail(`no auth reply within ${timeoutMs} ms`), timeoutMs);

      socket.on('open', onOpen);
      socket.on('message', onAuthReply);
      socket.on('error', onError);
      socket.on('close', onClose);
    });
  }

  /** True until the socket has closed. */
  get isOpen(): boolean {
    return this.closedEvent === undefined && this.socket.readyState === WebSocket.OPEN;
  }

  // ---- sending ------------------------------------------------------------------------------------------------

  /** Sends one frame as JSON; resolves once written to the socket. */
  send(frame: Record<string, unknown>): Promise<void> {
    if (this.socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error(`LMC connection is not open (${this.closedEvent?.reason ?? 'closing'})`));
    }
    return new Promise((resolve, reject) => {
      this.socket.send(JSON.stringify(frame), (err) => (err ? reject(err) : resolve()));
    });
  }

  /** A user turn: `{"role":"user","start":true}`, the message, `{"role":"user","end":true}`. */
  async sendUserMessage(text: string): Promise<void> {
    await this.send({ role: 'user', start: true });
    await this.send({ role: 'user', type: 'message', content: text });
    await this.send({ role: 'user', end: true });
  }

  /**
   * A command, framed like a message with `type: "command"`; the server acts on the end frame.
   * `go` runs the pending code block (or, with none pending, starts an LLM call that auto-runs the first block it
   * produces: only send it right after a code block ended the turn). `stop` interrupts; 0.4.3 then sends nothing.
   */
  async sendCommand(command: 'go' | 'stop'): Promise<void> {
    await this.send({ role: 'user', type: 'command', start: true });
    await this.send({ role: 'user', type: 'command', content: command });
    await this.send({ role: 'user', type: 'command', end: true });
  }

  /** Closes the socket (normal closure) and resolves when it is closed; idempotent. */
  async close(): Promise<void> {
    if (this.closedEvent) return;
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(1000, 'client closing');
    const timer = setTimeout(() => this.socket.terminate(), CLOSE_WAIT_MS);
    await closed;
    clearTimeout(timer);
  }

  // ---- receiving: push ----------------------------------------------------------------------------------------

  /**
   * Calls `listener` with every chunk as it arrives (first with any buffered ones). Protocol errors go to
   * `onProtocolError` listeners, or, when there are none, to chunk listeners as a synthesised
   * `{"role":"server","type":"error","format":"oi-audit-protocol-error"}` chunk, so they are never dropped.
   * @returns a function that removes the listener.
   */
  onChunk(listener: (chunk: LmcChunk) => void): () => void {
    this.chunkListeners.push(listener);
    if (!this.pushMode) {
      this.pushMode = true;
      for (const event of this.buffered.splice(0)) this.dispatchPush(event);
    }
    return () => {
      const i = this.chunkListeners.indexOf(listener);
      if (i >= 0) this.chunkListeners.splice(i, 1);
    };
  }

  onProtocolError(listener: (message: string, raw: string) => void): void {
    this.protocolErrorListeners.push(listener);
  }

  /** Called once with a human-readable reason when the socket closes (at once if it already has). */
  onClose(listener: (reason: string) => void): void {
    if (this.closedEvent) {
      const reason = this.closedEvent.reason;
      queueMicrotask(() => listener(reason));
    } else {
      this.closeListeners.push(listener);
    }
  }

  // ---- receiving: pull ----------------------------------------------------------------------------------------

  /**
   * The next event. After the socket closed, resolves with the `closed` event (again and again).
   * @throws LmcTimeoutError when `timeoutMs` is given and nothing arrives in time (the event is not lost).
   */
  next(timeoutMs?: number): Promise<LmcEvent> {
    this.assertPullMode();
    const queued = this.buffered.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closedEvent) return Promise.resolve(this.closedEvent);
    if (this.waiter) return Promise.reject(new Error('LmcConnection.next() is already being awaited'));
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.waiter = undefined;
              reject(new LmcTimeoutError(timeoutMs));
            }, timeoutMs);
      this.waiter = (event) => {
        clearTimeout(timer);
        resolve(event);
      };
    });
  }

  /** Yields every event until (and including) `closed`. */
  async *[Symbol.asyncIterator](): AsyncIterator<LmcEvent> {
    for (;;) {
      const event = await this.next();
      yield event;
      if (event.kind === 'closed') return;
    }
  }

  /**
   * Collects events until the server's `complete` status, the socket closing, or `timeoutMs` (default 120 s)
   * without an end. Never throws for server-side trouble: it is in the result.
   */
  async nextTurnEnd(options: { timeoutMs?: number } = {}): Promise<LmcTurnEnd> {
    const deadline = Date.now() + (options.timeoutMs ?? 120_000);
    const turn: LmcTurnEnd = { outcome: 'timeout', chunks: [], serverErrors: [], protocolErrors: [] };
    for (;;) {
      let event: LmcEvent;
      try {
        event = await this.next(Math.max(1, deadline - Date.now()));
      } catch (err) {
        if (err instanceof LmcTimeoutError) return turn;
        throw err;
      }
      if (event.kind === 'closed') {
        return { ...turn, outcome: 'closed', closeReason: event.reason };
      }
      if (event.kind === 'protocol-error') {
        turn.protocolErrors.push(event.message);
        continue;
      }
      turn.chunks.push(event.chunk);
      if (isServerError(event.chunk)) turn.serverErrors.push(String(event.chunk.content));
      if (isCompleteStatus(event.chunk)) return { ...turn, outcome: 'complete' };
    }
  }

  // ---- internals ----------------------------------------------------------------------------------------------

  private assertPullMode(): void {
    if (this.pushMode) throw new Error('LmcConnection is in push mode (onChunk was called): pull methods are off');
  }

  private receive(data: WebSocket.RawData, isBinary: boolean): void {
    if (isBinary) {
      // Measured, not decoded: a large binary frame is not copied into a string just to be refused.
      this.emit({ kind: 'protocol-error', message: `unexpected binary frame (${rawDataLength(data)} bytes)`, raw: '' });
      return;
    }
    const text = rawDataToString(data);
    const parsed = parseLmcFrame(text);
    this.emit(
      typeof parsed === 'string'
        ? { kind: 'protocol-error', message: parsed, raw: excerpt(text) }
        : { kind: 'chunk', chunk: parsed },
    );
  }

  private handleClose(code: number, reason: string): void {
    if (this.closedEvent) return;
    const because = this.socketError ? ` (${this.socketError.message})` : '';
    this.closedEvent = {
      kind: 'closed',
      code,
      reason: `WebSocket closed with code ${code}${reason ? `: ${reason}` : ''}${because}`,
      ...(this.socketError ? { error: this.socketError } : {}),
    };
    this.emit(this.closedEvent);
    // Close listeners hear about it in either mode: a push consumer may register onClose before onChunk.
    const reasonText = this.closedEvent.reason;
    for (const listener of this.closeListeners.splice(0)) callSafely(() => listener(reasonText));
  }

  private emit(event: LmcEvent): void {
    if (this.pushMode) {
      this.dispatchPush(event);
    } else if (this.waiter && this.buffered.length === 0) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter(event);
    } else if (event.kind !== 'closed') {
      // The closed event is not buffered: next() returns it once the buffer is drained.
      this.buffered.push(event);
    }
  }

  private dispatchPush(event: LmcEvent): void {
    switch (event.kind) {
      case 'chunk':
        for (const listener of [...this.chunkListeners]) callSafely(() => listener(event.chunk));
        break;
      case 'protocol-error':
        if (this.protocolErrorListeners.length > 0) {
          for (const listener of [...this.protocolErrorListeners]) callSafely(() => listener(event.message, event.raw));
        } else {
          const chunk: LmcChunk = {
            role: 'server',
            type: 'error',
            format: PROTOCOL_ERROR_FORMAT,
            content: `malformed frame from Open Interpreter: ${event.message}: ${event.raw}`,
          };
          for (const listener of [...this.chunkListeners]) callSafely(() => listener(chunk));
        }
        break;
      case 'closed':
        break; // handled by handleClose for both modes
    }
  }
}
