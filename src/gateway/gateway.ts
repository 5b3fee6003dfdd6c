import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AuditRecorder } from '../audit/recorder.js';
import type { JsonValue } from '../security/canonical-json.js';
import { AuditedInterpreter, type InterpreterLlmSettings } from '../openinterpreter/audited-interpreter.js';
import { startLlmProxy, type LlmProxy } from '../llm-proxy/proxy.js';
import type { HoldCallback } from '../detect/policy.js';
import { approvalFor, type ApprovalMode } from '../openinterpreter/approval.js';

/** A bearer token and the user it stands for. */
export interface GatewayUser {
  userId: string;
  roles?: string[];
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
  /** `all`, `none` or `policy`; under `policy`, held blocks are asked of the connected client. */
  policy: ApprovalMode;
  auditHealthy?: () => boolean;
  log?: (line: string) => void;
}

export interface Gateway {
  url: string;
  port: number;
  readonly activeSessions: number;
  close(): Promise<void>;
}

type ClientMessage =
  | { type: 'user'; content: string }
  | { type: 'stop' }
  | { type: 'settings'; settings: Record<string, JsonValue> }
  | { type: 'approval'; id: string; decision: 'approved' | 'refused' };

function parseClientMessage(raw: string): ClientMessage | string {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return 'message is not JSON';
  }
  if (typeof value !== 'object' || value === null) return 'message is not a JSON object';
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case 'user':
      return typeof m.content === 'string' ? { type: 'user', content: m.content } : 'user message needs string content';
    case 'stop':
      return { type: 'stop' };
    case 'settings':
      return typeof m.settings === 'object' && m.settings !== null ? { type: 'settings', settings: m.settings as Record<string, JsonValue> } : 'settings needs an object';
    case 'approval':
      return typeof m.id === 'string' && (m.decision === 'approved' || m.decision === 'refused')
        ? { type: 'approval', id: m.id, decision: m.decision }
        : 'approval needs id and decision approved|refused';
    default:
      return `unknown message type ${JSON.stringify(m.type)}`;
  }
}

function bearer(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return match?.[1];
}

function findUser(users: Map<string, GatewayUser>, token: string | undefined): GatewayUser | undefined {
  if (!token) return undefined;
  const presented = Buffer.from(token);
  for (const [known, user] of users) {
    const candidate = Buffer.from(known);
    if (candidate.length === presented.length && timingSafeEqual(candidate, presented)) return user;
  }
  return undefined;
}

/**
 * `oi-audit gateway`: clients connect over WebSocket with a bearer token; each connection gets its own
 * audited Open Interpreter process; LLM traffic goes through the audit proxy to the configured upstream.
 *
 * Client → gateway: {"type":"user","content"}, {"type":"stop"}, {"type":"settings","settings"},
 * {"type":"approval","id","decision"}. Gateway → client: {"type":"ready","session"}, {"type":"lmc","chunk"}
 * for every Open Interpreter chunk, {"type":"approval_request","id","block"} for held blocks,
 * {"type":"turn_end","result"}, {"type":"settings_refused","keys"}, {"type":"error","message"}.
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const log = options.log ?? (() => {});
  const proxy: LlmProxy = await startLlmProxy({
    upstreamBaseUrl: options.upstreamBaseUrl,
    ...(options.upstreamApiKey ? { upstreamApiKey: options.upstreamApiKey } : {}),
    onUnknownToken: (info) => log(`llm proxy refused ${info.reason} from ${info.remoteAddress ?? '?'} on ${info.path}`),
  });
  const http: Server = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', sessions: sessions.size }));
      return;
    }
    res.writeHead(426, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'connect with a WebSocket' }));
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 8 * 1024 * 1024 });
  const sessions = new Set<AuditedInterpreter>();

  http.on('upgrade', (req, socket, head) => {
    const user = findUser(options.users, bearer(req));
    if (!user) {
      log(`refused connection from ${req.socket.remoteAddress ?? '?'}: missing or unknown bearer token`);
      socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => void serveClient(ws, user, req.socket.remoteAddress ?? 'unknown'));
  });

  async function serveClient(ws: WebSocket, user: GatewayUser, address: string): Promise<void> {
    const send = (msg: Record<string, unknown>) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
    };
    const held = new Map<string, (decision: 'approved' | 'refused') => void>();
    // The connected user is the human a held block waits for; the policy records timeouts as refusals.
    const askClient: HoldCallback = (ctx) =>
      new Promise((resolve) => {
        const id = randomUUID();
        const { signal, ...block } = ctx;
        held.set(id, resolve);
        signal.addEventListener('abort', () => held.delete(id), { once: true });
        send({ type: 'approval_request', id, block });
      });
    const approval = approvalFor(options.policy, askClient);

    let interpreter: AuditedInterpreter;
    try {
      interpreter = await AuditedInterpreter.start({
        recorder: options.recorder,
        proxy,
        userId: user.userId,
        ...(user.roles ? { roles: user.roles } : {}),
        clientAddress: address,
        model: options.model,
        ...(options.llm ? { llm: options.llm } : {}),
        approve: approval.hook,
        policyName: approval.name,
        ...(options.auditHealthy ? { auditHealthy: options.auditHealthy } : {}),
        onChunk: (chunk) => send({ type: 'lmc', chunk }),
      });
    } catch (error) {
      send({ type: 'error', message: (error as Error).message });
      ws.close(1011, 'session could not start');
      return;
    }
    sessions.add(interpreter);
    send({ type: 'ready', session: interpreter.session.id });

    let closed = false;
    const finish = async (reason: 'client' | 'shutdown') => {
      if (closed) return;
      closed = true;
      for (const answer of held.values()) answer('refused');
      if (reason === 'client' && interpreter.session.activeTurn) {
        interpreter.session.recordError({ source: 'client', type: 'client_disconnected', message: 'client disconnected mid-turn' });
      }
      await interpreter.close(reason === 'client' && interpreter.session.activeTurn ? 'aborted' : undefined);
      sessions.delete(interpreter);
    };
    ws.on('close', () => void finish('client'));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return send({ type: 'error', message: 'binary frames are not accepted' });
      const msg = parseClientMessage(String(data));
      if (typeof msg === 'string') {
        interpreter.session.recordError({ source: 'client', type: 'bad_message', message: msg });
        return send({ type: 'error', message: msg });
      }
      switch (msg.type) {
        case 'user':
          void interpreter.send(msg.content).then(
            (result) => send({ type: 'turn_end', result }),
            (error: Error) => send({ type: 'error', message: error.message }),
          );
          break;
        case 'stop':
          void interpreter.stop().catch(() => undefined);
          break;
        case 'settings':
          send({ type: 'settings_refused', keys: interpreter.requestSettings(msg.settings) });
          break;
        case 'approval':
          held.get(msg.id)?.(msg.decision);
          break;
      }
    });
  }

  await new Promise<void>((resolve) => http.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const port = (http.address() as AddressInfo).port;
  return {
    url: `ws://${options.host ?? '127.0.0.1'}:${port}/`,
    port,
    get activeSessions() {
      return sessions.size;
    },
    async close() {
      for (const client of wss.clients) client.close(1001, 'gateway shutting down');
      await Promise.all([...sessions].map((s) => s.close('aborted')));
      wss.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await proxy.close();
    },
  };
}
