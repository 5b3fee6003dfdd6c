/**
 * The audit LLM proxy: the one endpoint Open Interpreter's litellm (or Codex) talks to, speaking each
 * provider's own wire format at that provider's own path. Each LLM call becomes a generation span of
 * the session's active turn, with the exact request messages and the assembled response recorded,
 * while the upstream response is passed through to the client chunk by chunk.
 *
 * Routes (one module per wire format; exchange.ts does the rest the same way for all):
 *   POST /v1/chat/completions                                   OpenAI Chat Completions (openai-chat.ts)
 *   POST /openai/deployments/<d>/chat/completions?api-version=  Azure OpenAI           (openai-chat.ts)
 *   POST /v1/messages                                           Anthropic Messages     (anthropic-messages.ts)
 *   POST /api/chat, /api/generate                               Ollama                 (ollama.ts)
 *   POST /v1/responses                                          OpenAI Responses       (openai-responses.ts)
 *   GET  /v1/models                                             forwarded (OpenAI)
 *   GET  /api/tags, POST /api/show|/api/pull                    answered here, nothing forwarded (below)
 *
 * Decisions:
 * - The session is found by its credential, sent the way the provider's clients send their API key:
 *   `Authorization: Bearer` (OpenAI, Responses, Ollama), `api-key` (Azure), `x-api-key` (Anthropic).
 *   That key is the per-session token register() hands out; Open Interpreter gets it through its
 *   environment only. No URL carries a secret, so `ps` and access logs show none.
 * - Unknown, missing or ended-session credentials get 401 and are counted (`unknownTokenRequests`) and
 *   reported through `onUnknownToken`, so the gateway can turn them into audit records.
 * - The client's key is never forwarded; the upstream key is added in the provider's own header and
 *   is scrubbed from everything recorded (and from upstream error bodies passed back to the client).
 * - A call that arrives while the session has no active turn is forwarded by default and recorded on
 *   the session root: an `llm_call_outside_turn` error event on the root span, and a `chat` span under
 *   the root with the usual request/response events (`turn: null`, `outside_turn: true`).
 *   With `outsideTurn: 'refuse'` it is recorded the same way and answered 409 instead of forwarded.
 * - Open Interpreter's text mode hangs up after the first closing code fence: that ends the generation
 *   with `clientDisconnected: true` and what was received so far. It is not an error. With litellm the
 *   hang-up is lazy (the connection closes when Python collects the stream), so a client that leaves
 *   streamed data unread for `clientStallTimeoutMs`, or whose session sends its next LLM call, counts as
 *   gone too; backpressure keeps memory bounded meanwhile.
 * - Recording and fail-closed: a call is forwarded only if the session may make it (a registered, open
 *   session; inside a turn unless `outsideTurn` is `forward`). Its request record is sealed before the
 *   request leaves (`recordRequest`, default `before-forward`: the provider never sees a request the trail
 *   does not hold; a failure answers 503 `audit_unavailable` and nothing leaves). `while-forwarding` seals
 *   it while the request travels (opt-in, shorter time to first token): nothing of the answer reaches the
 *   client before that seal, and a record that cannot be sealed cancels the upstream call and answers 503,
 *   but the provider may already have seen that request.
 * - The upstream is reached through one keep-alive connection pool per origin (upstream-client.ts).
 * - Upstream failures: non-2xx (3xx included: redirects are not followed) → status and body passed
 *   through, `upstream_<status>`; unreachable → 502
 *   `upstream_unreachable`; no response headers in time → 504 `upstream_timeout`; stream cut, stalled or
 *   ended without its end marker → `upstream_stream_cut` / `upstream_timeout`, and the client gets an
 *   error event in its own format (the SDKs raise on it) instead of a silently truncated reply.
 * - The request is forwarded byte for byte, except that an OpenAI chat stream is asked for its token
 *   usage (`stream_options.include_usage`); the usage chunk that adds is hidden from a client that did
 *   not ask for it.
 * - Ollama's metadata calls that Open Interpreter makes without any key (`/api/tags` to list models,
 *   `/api/pull`, `/api/show`) are answered here with empty results and never forwarded: an
 *   unauthenticated caller learns nothing and can start nothing upstream.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenOn } from './listen.js';
import type { AuditSession } from '../audit/session.js';
import { ANTHROPIC_MESSAGES } from './anthropic-messages.js';
import { sendJsonError } from './client-io.js';
import { Exchange, type AbortReason, type ExchangeContext, type RecordRequestOrder, type SessionRoute } from './exchange.js';
import type { RouteInfo, WireFormat } from './format.js';
import { OLLAMA_CHAT, OLLAMA_GENERATE } from './ollama.js';
import { AZURE_OPENAI_CHAT, OPENAI_CHAT } from './openai-chat.js';
import { OPENAI_RESPONSES } from './openai-responses.js';
import { describeUpstreamError, readText, UpstreamClient } from './upstream-client.js';

export interface UnknownTokenInfo {
  reason: 'unknown_token' | 'missing_token' | 'session_ended';
  method: string;
  /** Request path (no query). */
  path: string;
  /** First 16 hex digits of the SHA-256 of the presented credential (never the credential itself). */
  tokenSha256Prefix?: string;
  remoteAddress?: string;
  at: string;
}

export interface LlmProxyOptions {
  /**
   * Upstream base URL. OpenAI-style (chat, responses, models): including its version path, e.g.
   * `https://api.openai.com/v1`. Azure, Anthropic and Ollama paths carry their own prefix and are
   * appended to the base with a trailing `/v1` removed (`https://x.openai.azure.com`,
   * `https://api.anthropic.com`, `http://127.0.0.1:11434`).
   */
  upstreamBaseUrl: string;
  /** Sent upstream in the provider's own auth header; never recorded. */
  upstreamApiKey?: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** `gen_ai.provider.name` recorded for every generation. Default: the wire format's provider. */
  provider?: string;
  /** Longest wait for the upstream's response headers, ms. Default 120 000. */
  requestTimeoutMs?: number;
  /** Longest silence between upstream body chunks, ms. Default: requestTimeoutMs. */
  idleTimeoutMs?: number;
  /**
   * How long the client may leave streamed data unread (socket buffers full) before the proxy treats it
   * as gone, ms. Open Interpreter's text mode stops reading at the first closing code fence but, with
   * litellm, only closes the connection when Python garbage-collects the stream, which can be much later.
   * A new LLM request for the same session also ends any stream of that session left unread.
   * Default 5 000.
   */
  clientStallTimeoutMs?: number;
  /** Largest request body accepted, bytes. Default 32 MiB. */
  maxRequestBytes?: number;
  /** Most characters of response content assembled for the record (the stream itself is not limited). Default 16 Mi. */
  maxAssembledChars?: number;
  /**
   * When the request record is sealed: `before-forward` (default: the upstream never sees a request that
   * could not be recorded, at the cost of the record's time added to the time to first token) or
   * `while-forwarding` (right after the request is sent, before anything of the answer is read or passed on;
   * a failed seal cancels the call, but the provider may have seen the request: opt-in).
   */
  recordRequest?: RecordRequestOrder;
  /** What to do with a call that arrives while the session has no active turn. Default `forward`. */
  outsideTurn?: 'forward' | 'refuse';
  /** Called for every request with an unknown, missing or ended-session credential. Errors thrown are ignored. */
  onUnknownToken?: (info: UnknownTokenInfo) => void;
  /** Called when recording to the audit session throws (the proxy keeps serving). */
  onAuditError?: (error: unknown) => void;
}

export interface RegisterOptions {
  /** Overrides the recorded `gen_ai.provider.name` for this session. */
  provider?: string;
}

export interface ProxyRegistration {
  /**
   * The session's credential: `oia_` + 64 hex digits. Give it to the client as its provider API key
   * (OPENAI_API_KEY, AZURE_API_KEY, ANTHROPIC_API_KEY, OLLAMA_API_KEY …) through the environment, never
   * on a command line. Keep it out of logs.
   */
  token: string;
  /** `http://127.0.0.1:P/v1`: the OpenAI-style base URL (chat completions, responses). Holds no secret. */
  baseUrl: string;
  /** `http://127.0.0.1:P`: the base for Azure, Anthropic and Ollama clients. Holds no secret. */
  rootUrl: string;
  /** Stop accepting this credential (bound; safe to pass around). In-flight requests finish. */
  unregister: () => void;
}

export interface LlmProxy {
  /** `http://host:port` */
  url: string;
  port: number;
  /** Requests refused for an unknown, missing or ended-session credential since start. */
  readonly unknownTokenRequests: number;
  /** LLM requests in flight. */
  readonly activeRequests: number;
  register(session: AuditSession, opts?: RegisterOptions): ProxyRegistration;
  /** Stop listening, abort in-flight upstream calls (their generations fail with `proxy_shutdown`) and wait for them. */
  close(): Promise<void>;
}

const TOKEN_RE = /^oia_[0-9a-f]{64}$/;

interface RouteDef {
  re: RegExp;
  format: WireFormat;
  params?: string[];
}

const ROUTES: RouteDef[] = [
  { re: /^(?:\/v1)?\/chat\/completions$/, format: OPENAI_CHAT },
  { re: /^\/openai\/deployments\/([^/]+)\/chat\/completions$/, format: AZURE_OPENAI_CHAT, params: ['deployment'] },
  { re: /^\/v1\/messages$/, format: ANTHROPIC_MESSAGES },
  { re: /^\/api\/chat$/, format: OLLAMA_CHAT },
  { re: /^\/api\/generate$/, format: OLLAMA_GENERATE },
  { re: /^(?:\/v1)?\/responses$/, format: OPENAI_RESPONSES },
];

/** Ollama metadata Open Interpreter asks for without a key: answered locally, empty (see the module comment). */
const OLLAMA_LOCAL: Record<string, unknown> = {
  'GET /api/tags': { models: [] },
  'POST /api/pull': { status: 'success' },
  'POST /api/show': { model_info: {} },
};

function matchRoute(path: string, query: string): { def: RouteDef; route: RouteInfo } | undefined {
  for (const def of ROUTES) {
    const m = def.re.exec(path);
    if (!m) continue;
    const params: Record<string, string> = {};
    (def.params ?? []).forEach((name, i) => {
      params[name] = decodeURIComponent(m[i + 1] ?? '');
    });
    return { def, route: { path, query, params } };
  }
  return undefined;
}

/** The credential as this format's clients send their API key. */
function credentialOf(req: IncomingMessage, format: WireFormat): string | undefined {
  const header = (name: string) => {
    const v = req.headers[name];
    return typeof v === 'string' && v.length > 0 ? v : undefined;
  };
  if (format === AZURE_OPENAI_CHAT) return header('api-key');
  if (format === ANTHROPIC_MESSAGES) return header('x-api-key');
  const auth = header('authorization');
  const m = auth ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
  return m?.[1];
}

function openAiError(message: string, type: string, code: string | null = type): string {
  return OPENAI_CHAT.errorBody(message, type, code);
}

export async function startLlmProxy(options: LlmProxyOptions): Promise<LlmProxy> {
  const upstreamBase = options.upstreamBaseUrl.replace(/\/+$/, '');
  try {
    new URL(upstreamBase);
  } catch {
    throw new Error(`startLlmProxy: upstreamBaseUrl is not a valid URL: ${options.upstreamBaseUrl}`);
  }
  const host = options.host ?? '127.0.0.1';
  const upstreamKey = options.upstreamApiKey && options.upstreamApiKey.length > 0 ? options.upstreamApiKey : undefined;
  const registrations = new Map<string, SessionRoute>();
  const inFlight = new Set<{ abort: (reason: AbortReason) => void; settled: Promise<void> }>();
  let unknownTokenRequests = 0;
  let closing = false;
  const requestTimeoutMs = options.requestTimeoutMs ?? 120_000;
  const upstream = new UpstreamClient();

  const ctx: ExchangeContext = {
    upstreamBase,
    upstreamKey,
    upstream,
    recordRequest: options.recordRequest ?? 'before-forward',
    provider: options.provider,
    requestTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs ?? requestTimeoutMs,
    clientStallTimeoutMs: options.clientStallTimeoutMs ?? 5_000,
    maxRequestBytes: options.maxRequestBytes ?? 32 * 1024 * 1024,
    maxAssembledChars: options.maxAssembledChars ?? 16 * 1024 * 1024,
    outsideTurn: options.outsideTurn ?? 'forward',
    scrub: (text) => (upstreamKey && text.includes(upstreamKey) ? text.split(upstreamKey).join('[upstream-api-key]') : text),
    audit: (fn) => {
      try {
        fn();
      } catch (err) {
        try {
          options.onAuditError?.(err);
        } catch {
          // a hook must not break the proxy
        }
      }
    },
    track: (entry) => {
      inFlight.add(entry);
      return () => inFlight.delete(entry);
    },
  };

  const refuse = (req: IncomingMessage, res: ServerResponse, format: WireFormat, reason: UnknownTokenInfo['reason'], token?: string) => {
    unknownTokenRequests++;
    const info: UnknownTokenInfo = { reason, method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0]!.slice(0, 200), at: new Date().toISOString() };
    if (token) info.tokenSha256Prefix = createHash('sha256').update(token).digest('hex').slice(0, 16);
    if (req.socket.remoteAddress) info.remoteAddress = req.socket.remoteAddress;
    try {
      options.onUnknownToken?.(info);
    } catch {
      // ignore
    }
    req.resume();
    const message = reason === 'session_ended' ? 'the audit session for this key has ended' : 'unknown or missing session key';
    sendJsonError(res, 401, format.errorBody(message, 'authentication_error', reason));
  };

  /** The session a request's credential belongs to, or undefined after refusing it. */
  const authenticate = (req: IncomingMessage, res: ServerResponse, format: WireFormat): SessionRoute | undefined => {
    const token = credentialOf(req, format);
    if (!token) {
      refuse(req, res, format, 'missing_token');
      return;
    }
    const reg = TOKEN_RE.test(token) ? registrations.get(token) : undefined;
    if (!reg) {
      refuse(req, res, format, 'unknown_token', token);
      return;
    }
    if (reg.session.isEnded) {
      registrations.delete(token);
      refuse(req, res, format, 'session_ended', token);
      return;
    }
    return reg;
  };

  const handleModels = async (res: ServerResponse) => {
    const max = 4 * 1024 * 1024;
    try {
      const r = await upstream.request(`${upstreamBase}/models`, {
        method: 'GET',
        headers: { accept: 'application/json', 'user-agent': 'oi-audit-llm-proxy', ...OPENAI_CHAT.authHeaders(upstreamKey) },
        signal: AbortSignal.timeout(requestTimeoutMs),
      });
      // Bounded: a model list is small; past the limit the answer is cut (key scrubbed first, whole).
      const text = ctx.scrub(await readText(r.body, max + (upstreamKey?.length ?? 0))).slice(0, max);
      res.writeHead(r.status, { 'content-type': r.header('content-type') ?? 'application/json' });
      res.end(text);
    } catch (err) {
      sendJsonError(res, 502, openAiError(`upstream unreachable: ${ctx.scrub(describeUpstreamError(err))}`, 'upstream_unreachable'));
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = (q === -1 ? url : url.slice(0, q)).replace(/\/+$/, '') || '/';
    const query = q === -1 ? '' : url.slice(q);
    const method = req.method ?? 'GET';
    if (method === 'GET' && (path === '/healthz' || path === '/health')) return sendJsonError(res, 200, JSON.stringify({ status: 'ok' }));
    const local = OLLAMA_LOCAL[`${method} ${path}`];
    if (local !== undefined) {
      req.resume();
      return sendJsonError(res, 200, JSON.stringify(local));
    }
    const matched = matchRoute(path, query);
    const isModels = path === '/v1/models' || path === '/models';
    if (!matched && !isModels) {
      req.resume();
      return sendJsonError(res, 404, openAiError(`no route ${method} ${path.slice(0, 200)}`, 'invalid_request_error', 'not_found'));
    }
    const format = matched?.def.format ?? OPENAI_CHAT;
    const reg = authenticate(req, res, format);
    if (!reg) return;
    if (closing) {
      req.resume();
      return sendJsonError(res, 503, format.errorBody('the LLM proxy is shutting down', 'proxy_shutdown', 'proxy_shutdown'));
    }
    if (!matched) {
      req.resume();
      if (method === 'GET') void handleModels(res);
      else sendJsonError(res, 405, openAiError('use GET for models', 'invalid_request_error', 'method_not_allowed'));
      return;
    }
    if (method !== 'POST') {
      req.resume();
      return sendJsonError(res, 405, format.errorBody(`use POST for ${path}`, 'invalid_request_error', 'method_not_allowed'));
    }
    new Exchange(ctx, format, matched.route, reg, req, res).run().catch((err: unknown) => {
      ctx.audit(() => {
        throw err;
      });
      sendJsonError(res, 500, format.errorBody('internal error in the LLM proxy', 'proxy_error', 'proxy_error'));
    });
  };

  const server: Server = createServer((req, res) => {
    res.on('error', () => undefined);
    handle(req, res);
  });
  const { port, urlHost } = await listenOn(server, options.port ?? 0, host);
  // Bound to every interface: clients reach it on loopback.
  const hostPart = host === '0.0.0.0' ? '127.0.0.1' : urlHost;
  const url = `http://${hostPart}:${port}`;
  let closed: Promise<void> | undefined;

  return {
    url,
    port,
    get unknownTokenRequests() {
      return unknownTokenRequests;
    },
    get activeRequests() {
      return inFlight.size;
    },
    register(session: AuditSession, opts: RegisterOptions = {}): ProxyRegistration {
      if (session.isEnded) throw new Error(`cannot register ended audit session ${session.id} with the LLM proxy`);
      const token = `oia_${randomBytes(32).toString('hex')}`;
      const reg: SessionRoute = { session, outsideCalls: 0, blocked: new Set() };
      if (opts.provider) reg.provider = opts.provider;
      registrations.set(token, reg);
      return { token, baseUrl: `${url}/v1`, rootUrl: url, unregister: () => void registrations.delete(token) };
    },
    close(): Promise<void> {
      closed ??= (async () => {
        closing = true;
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        const pending = [...inFlight];
        for (const f of pending) f.abort('shutdown');
        await Promise.all(pending.map((f) => f.settled));
        server.closeAllConnections();
        await stopped;
        await upstream.close();
        registrations.clear();
      })();
      return closed;
    },
  };
}
