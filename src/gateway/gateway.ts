import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ApprovalInfo } from '../audit/execution.js';
import type { AuditRecorder } from '../audit/recorder.js';
import type { HoldCallback, HoldContext } from '../approval/policy.js';
import { approvalFor, type ApprovalMode } from '../approval/modes.js';
import type { InterpreterLlmSettings } from '../agents/classic/audited-interpreter.js';
import { startAgent, type AgentKind, type AuditedAgent } from '../agents/select.js';
import { startLlmProxy, type LlmProxy } from '../llm-proxy/proxy.js';
import type { ApprovalHook } from '../approval/hook.js';
import { parseClientMessage, type ClientMessage } from './client-protocol.js';
import { SecurityStream } from './security-stream.js';
import { bearer, findUser, isApprover, type GatewayUser } from './tokens.js';

export { APPROVER_ROLE, type GatewayUser } from './tokens.js';

/** WebSocket close codes the gateway uses (RFC 6455 §7.4.1 and the IANA registry). */
export const CLOSE_CODES = {
  shutdown: 1001,
  /** A limit is reached: try again later. */
  tryAgainLater: 1013,
  startFailed: 1011,
  /** Too many messages queued before the session was ready. */
  policyViolation: 1008,
} as const;

export interface GatewayLimits {
  /** Sessions (starting or running) over all clients. Default 16. */
  maxSessions?: number;
  /** Sessions (starting or running) per token. Default 4. */
  maxSessionsPerToken?: number;
  /** Largest client message in bytes (bigger frames close the connection, 1009). Default 8 MiB. */
  maxMessageBytes?: number;
  /** Messages queued while the session starts (beyond: the connection closes, 1008). Default 64. */
  maxQueuedMessages?: number;
}

export interface GatewayOptions {
  recorder: AuditRecorder;
  /** Bearer token → user. Tokens are compared in constant time. */
  users: Map<string, GatewayUser>;
  upstreamBaseUrl: string;
  upstreamApiKey?: string;
  model: string;
  /** Open Interpreter's LLM settings for every session (context window, max tokens, api-version, tool calling). */
  llm?: InterpreterLlmSettings;
  host?: string;
  port?: number;
  /** `all`, `none` or `policy`; under `policy`, held blocks are asked of the connected approvers. */
  policy: ApprovalMode;
  auditHealthy?: () => boolean;
  log?: (line: string) => void;
  limits?: GatewayLimits;
  /**
   * Origins (exact `Origin` header values, e.g. `https://app.example`) allowed to connect. Default none: any
   * request that carries an Origin header (every browser sends one) is refused with 403.
   */
  allowedOrigins?: string[];
  /** Let a user approve a block held in their own session. Default false: only other `approver`s can. */
  allowSelfApproval?: boolean;
  /** How long a held block waits for an approver. Default 120 s (the policy's default). */
  holdTimeoutMs?: number;
  /** Which Open Interpreter serves the sessions: `classic` (0.4.3, default) or `rust` (its code base, Codex 0.148.0). */
  agent?: AgentKind;
  /**
   * Where each `rust` session gets its own new work directory (the sandbox's writable root of its commands).
   * Default the system temp dir. The directories are kept: what the agent wrote there is the user's.
   */
  workRoot?: string;
  /** Passed to each session's agent (tests): one work directory for every session, timeouts. */
  session?: { workDir?: string; startTimeoutMs?: number; chunkTimeoutMs?: number };
}

export interface Gateway {
  url: string;
  port: number;
  /** Sessions starting or running. */
  readonly activeSessions: number;
  /** Session id of the gateway's security stream. */
  readonly securityStreamId: string;
  /** Ends every session (end event, final checkpoint), closes every client, stops listening. Idempotent. */
  close(): Promise<void>;
}

/** A held block waiting for a decision, visible to the approvers. */
interface HeldBlock {
  id: string;
  requester: Client;
  block: Omit<HoldContext, 'signal'>;
  resolve: (decision: 'approved' | 'refused', by: Client) => void;
}

/** One WebSocket client and its session. */
interface Client {
  ws: WebSocket;
  user: GatewayUser;
  address: string;
  send(msg: Record<string, unknown>): void;
}

function refuseUpgrade(socket: Socket, status: number, text: string, body: Record<string, unknown>): void {
  const json = JSON.stringify(body);
  socket.end(`HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(json)}\r\nconnection: close\r\n\r\n${json}`);
}

/**
 * `oi-audit gateway`: clients connect over WebSocket with a bearer token; each connection gets its own
 * audited Open Interpreter process (classic 0.4.3, or with `agent: 'rust'` the Codex-based one's app-server);
 * LLM traffic goes through the audit proxy to the configured upstream. The client protocol is the same for both.
 *
 * Client → gateway: {"type":"user","content"}, {"type":"stop"}, {"type":"settings","settings"},
 * {"type":"approval","id","decision"}; messages sent before `ready` are queued and handled once it is.
 * Gateway → client: {"type":"ready","session"}, {"type":"lmc","chunk"} for every Open Interpreter chunk (for
 * the Rust agent: its message deltas, commands, patches and output mapped onto LMC chunks),
 * {"type":"approval_request","id","block","can_approve"} (to the requester and every approver),
 * {"type":"approval_closed","id","decision"}, {"type":"turn_end","result"} (result.refusals: reason and rule ids
 * of each refused block), {"type":"settings_refused","keys"}, {"type":"error","code","message"}.
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const log = options.log ?? (() => {});
  const limits = {
    maxSessions: options.limits?.maxSessions ?? 16,
    maxSessionsPerToken: options.limits?.maxSessionsPerToken ?? 4,
    maxMessageBytes: options.limits?.maxMessageBytes ?? 8 * 1024 * 1024,
    maxQueuedMessages: options.limits?.maxQueuedMessages ?? 64,
  };
  const allowedOrigins = new Set(options.allowedOrigins ?? []);
  const security = new SecurityStream(options.recorder);
  const proxy: LlmProxy = await startLlmProxy({
    upstreamBaseUrl: options.upstreamBaseUrl,
    ...(options.upstreamApiKey ? { upstreamApiKey: options.upstreamApiKey } : {}),
    onUnknownToken: (info) => log(`llm proxy refused ${info.reason} from ${info.remoteAddress ?? '?'} on ${info.path}`),
  });
  /** Sessions starting or running, each with its connection's finish(). */
  const sessions = new Map<Client, () => Promise<void>>();
  const perToken = new Map<GatewayUser, number>();
  const held = new Map<string, HeldBlock>();
  let closing = false;

  const http: Server = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', sessions: sessions.size }));
      return;
    }
    res.writeHead(426, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'connect with a WebSocket' }));
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: limits.maxMessageBytes });

  http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    // A client that resets mid-handshake must not crash the gateway (an 'error' with no listener throws).
    socket.on('error', () => undefined);
    const address = req.socket.remoteAddress ?? 'unknown';
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins.has(origin)) {
      security.record('origin_refused', address, 'WebSocket request from an origin not on the allow-list', { origin: origin.slice(0, 200) });
      log(`refused connection from ${address}: origin not allowed`);
      refuseUpgrade(socket, 403, 'Forbidden', { error: 'origin not allowed', code: 'origin_refused' });
      return;
    }
    const token = bearer(req);
    const user = findUser(options.users, token);
    if (!user) {
      security.record('auth_failed', address, token ? 'unknown bearer token' : 'no bearer token', token ? { token_pseudonym: security.pseudonym(token) } : {});
      log(`refused connection from ${address}: missing or unknown bearer token`);
      refuseUpgrade(socket, 401, 'Unauthorized', { error: 'missing or unknown bearer token', code: 'auth_failed' });
      return;
    }
    if (closing) {
      refuseUpgrade(socket, 503, 'Service Unavailable', { error: 'gateway shutting down', code: 'shutdown' });
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => serveClient(ws, user, address));
  });

  /** Why a new session may not start now, or undefined. */
  function overLimit(user: GatewayUser): string | undefined {
    if (sessions.size >= limits.maxSessions) return `the gateway runs its limit of ${limits.maxSessions} sessions`;
    if ((perToken.get(user) ?? 0) >= limits.maxSessionsPerToken) return `this token runs its limit of ${limits.maxSessionsPerToken} sessions`;
    return undefined;
  }

  /** A held block goes to its requester and every connected approver; only an allowed one can decide. */
  function mayDecide(client: Client, h: HeldBlock, decision: 'approved' | 'refused'): string | undefined {
    const own = client.user.userId === h.requester.user.userId;
    if (decision === 'refused' && (own || isApprover(client.user))) return undefined; // refusing is always safe
    if (own) return options.allowSelfApproval ? undefined : 'a block held in your own session needs another approver (self-approval is off)';
    return isApprover(client.user) ? undefined : 'only a client whose token carries the approver role can decide held blocks';
  }

  function serveClient(ws: WebSocket, user: GatewayUser, address: string): void {
    const client: Client = {
      ws,
      user,
      address,
      send: (msg) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
      },
    };
    let interpreter: AuditedAgent | undefined;
    const abort = new AbortController();
    const queued: ClientMessage[] = [];
    let gone = false;
    let decidedBy: Client | undefined;

    // Before anything else: a malformed frame (too long, invalid UTF-8, bad opcode, unmasked) makes ws emit
    // 'error' and close this connection; without a listener the error would end the whole gateway.
    ws.on('error', (error: Error & { code?: string }) => {
      const code = error.code ?? 'WS_ERR_UNKNOWN';
      security.record('malformed_frame', address, `WebSocket protocol error, connection closed: ${error.message}`, { ws_error: code });
      interpreter?.session.recordError({ source: 'client', type: 'malformed_frame', message: `${code}: ${error.message}` });
    });

    const limit = overLimit(user);
    if (limit) {
      security.record('limit_refused', address, `session refused: ${limit}`, { user_pseudonym: options.recorder.pseudonymizer.pseudonymize(user.userId) });
      client.send({ type: 'error', code: 'limit', message: `session refused: ${limit}; try again later` });
      ws.close(CLOSE_CODES.tryAgainLater, 'session limit reached');
      return;
    }

    const askApprovers: HoldCallback = (ctx) =>
      new Promise((resolve) => {
        const id = randomUUID();
        const { signal, ...block } = ctx;
        const entry: HeldBlock = {
          id,
          requester: client,
          block,
          resolve: (decision, by) => {
            held.delete(id);
            decidedBy = by;
            announce({ type: 'approval_closed', id, decision });
            resolve(decision);
          },
        };
        held.set(id, entry);
        const recipients = new Set<Client>([client, ...[...sessions.keys()].filter((c) => isApprover(c.user))]);
        const announce = (msg: Record<string, unknown>) => recipients.forEach((c) => c.send(msg));
        signal.addEventListener('abort', () => {
          if (held.delete(id)) announce({ type: 'approval_closed', id, decision: 'refused', reason: 'no decision in time' });
        }, { once: true });
        for (const c of recipients) c.send({ type: 'approval_request', id, block, can_approve: mayDecide(c, entry, 'approved') === undefined });
      });
    const approval = approvalFor(options.policy, askApprovers);
    // The decision records who made it, as a keyed pseudonym.
    const hook: ApprovalHook = async (block) => {
      decidedBy = undefined;
      const info: ApprovalInfo = await approval.hook(block);
      const by = decidedBy as Client | undefined;
      return by && info.decider === 'user' ? { ...info, approver: options.recorder.pseudonymizer.pseudonymize(by.user.userId) } : info;
    };

    const handle = (msg: ClientMessage): void => {
      const it = interpreter!;
      switch (msg.type) {
        case 'user':
          void it.send(msg.content).then(
            (result) => client.send({ type: 'turn_end', result }),
            (error: unknown) => client.send({ type: 'error', code: 'turn_failed', message: error instanceof Error ? error.message : String(error) }),
          );
          break;
        case 'stop':
          void it.stop().catch(() => undefined);
          break;
        case 'settings':
          client.send({ type: 'settings_refused', keys: it.requestSettings(msg.settings) });
          break;
        case 'approval': {
          const h = held.get(msg.id);
          if (!h) return client.send({ type: 'error', code: 'unknown_approval', message: `no held block ${msg.id}` });
          const notAllowed = mayDecide(client, h, msg.decision);
          if (notAllowed) {
            security.record('approval_not_allowed', address, notAllowed, { user_pseudonym: options.recorder.pseudonymizer.pseudonymize(user.userId), held_session: h.block.sessionId });
            return client.send({ type: 'error', code: 'not_allowed', message: notAllowed });
          }
          h.resolve(msg.decision, client);
          break;
        }
      }
    };

    ws.on('message', (data, isBinary) => {
      if (isBinary) return client.send({ type: 'error', code: 'bad_message', message: 'binary frames are not accepted' });
      const msg = parseClientMessage((Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer)).toString('utf8'));
      if (typeof msg === 'string') {
        interpreter?.session.recordError({ source: 'client', type: 'bad_message', message: msg });
        return client.send({ type: 'error', code: 'bad_message', message: msg });
      }
      if (interpreter) return handle(msg);
      // Not ready yet: queued, handled in order once the session is.
      if (queued.length >= limits.maxQueuedMessages) {
        client.send({ type: 'error', code: 'queue_full', message: `more than ${limits.maxQueuedMessages} messages before the session was ready` });
        ws.close(CLOSE_CODES.policyViolation, 'too many messages before ready');
        return;
      }
      queued.push(msg);
    });

    let finished: Promise<void> | undefined;
    const finish = (reason: 'client' | 'shutdown'): Promise<void> =>
      (finished ??= (async () => {
        gone = true;
        abort.abort(reason === 'client' ? 'client disconnected' : 'gateway shutting down');
        await started;
        for (const h of [...held.values()]) if (h.requester === client) h.resolve('refused', client);
        const it = interpreter;
        if (it) {
          if (reason === 'client' && it.session.activeTurn) {
            it.session.recordError({ source: 'client', type: 'client_disconnected', message: 'client disconnected mid-turn' });
          }
          await it.close(reason === 'shutdown' || it.session.activeTurn ? 'aborted' : undefined);
        }
        if (reason === 'shutdown' && ws.readyState === ws.OPEN) ws.close(CLOSE_CODES.shutdown, 'gateway shutting down');
        sessions.delete(client);
        const n = (perToken.get(user) ?? 1) - 1;
        if (n > 0) perToken.set(user, n);
        else perToken.delete(user);
      })());
    ws.on('close', () => void finish('client'));

    sessions.set(client, () => finish('shutdown'));
    perToken.set(user, (perToken.get(user) ?? 0) + 1);
    const started = (async () => {
      try {
        const kind = options.agent ?? 'classic';
        // A Rust session's commands run in a work directory that is its sandbox's writable root: its own, by default.
        const workDir = options.session?.workDir ?? (kind === 'rust' ? mkdtempSync(join(options.workRoot ?? tmpdir(), 'oi-audit-gateway-')) : undefined);
        const it = await startAgent(kind, {
          recorder: options.recorder,
          proxy,
          userId: user.userId,
          ...(user.roles ? { roles: user.roles } : {}),
          clientAddress: address,
          model: options.model,
          ...(options.llm ? { llm: options.llm } : {}),
          approve: hook,
          policyName: approval.name,
          ...(options.auditHealthy ? { auditHealthy: options.auditHealthy } : {}),
          onChunk: (chunk) => client.send({ type: 'lmc', chunk }),
          signal: abort.signal,
          ...(workDir ? { workDir } : {}),
          ...(options.session?.startTimeoutMs ? { startTimeoutMs: options.session.startTimeoutMs } : {}),
          ...(options.session?.chunkTimeoutMs ? { chunkTimeoutMs: options.session.chunkTimeoutMs } : {}),
        });
        if (gone) {
          await it.close('aborted');
          return;
        }
        interpreter = it;
      } catch (error) {
        if (gone) {
          security.record('client_disconnected_during_startup', address, 'client left before its session was ready; the session was ended and its processes stopped');
          return;
        }
        client.send({ type: 'error', code: 'start_failed', message: (error as Error).message });
        ws.close(CLOSE_CODES.startFailed, 'session could not start');
        return;
      }
      client.send({ type: 'ready', session: interpreter.session.id });
      for (const msg of queued.splice(0)) handle(msg);
    })();
  }

  await new Promise<void>((resolve) => http.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  return {
    url: `ws://${options.host ?? '127.0.0.1'}:${port}/`,
    port,
    get activeSessions() {
      return sessions.size;
    },
    securityStreamId: security.sessionId,
    close() {
      return (closed ??= (async () => {
        closing = true;
        await Promise.all([...sessions.values()].map((finish) => finish()));
        for (const c of wss.clients) c.close(CLOSE_CODES.shutdown, 'gateway shutting down');
        wss.close();
        http.closeAllConnections?.();
        await new Promise<void>((resolve) => http.close(() => resolve()));
        await proxy.close();
        security.close();
      })());
    },
  };
}
