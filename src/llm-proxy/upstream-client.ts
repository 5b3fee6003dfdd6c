/**
 * The proxy's HTTP client for its upstream: one keep-alive undici Pool per upstream origin, the body
 * as a Node stream of Buffers. The global fetch() runs on the same undici but wraps every response in
 * WHATWG streams (a promise, a reader and a Uint8Array view per chunk); on the first-token path that
 * cost about as much as the rest of the proxy's own work (issue #20).
 *
 * Timeouts are the exchange's (headers, idle, client stall): undici's own header and body timeouts are
 * off so a long configured timeout is not cut short at undici's default of 300 s. Redirects are not
 * followed (an LLM API does not redirect; a 3xx is passed on as the upstream's answer, like any non-2xx).
 */
import type { Readable } from 'node:stream';
import { Pool } from 'undici';

export interface UpstreamRequest {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: Buffer;
  signal: AbortSignal;
}

export interface UpstreamResponse {
  status: number;
  /** A response header, lower-case name; repeated headers joined with `, `. */
  header(name: string): string | undefined;
  body: Readable;
}

/** Upstream connection-level failure, with undici's code (ECONNREFUSED, UND_ERR_SOCKET …) when it has one. */
export function describeUpstreamError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  const cause = (err as { cause?: unknown }).cause;
  const causeText = cause instanceof Error ? `: ${(cause as NodeJS.ErrnoException).code ?? ''} ${cause.message}`.replace(/: +/, ': ') : '';
  const head = code && !err.message.includes(code) ? `${code} ${err.message}` : err.message;
  return `${head}${causeText}`.trim();
}

export class UpstreamClient {
  private readonly pools = new Map<string, Pool>();
  private closed = false;

  /** Send one request; resolves at the response headers (the body then streams), rejects on a connection failure or abort. */
  async request(url: string, init: UpstreamRequest): Promise<UpstreamResponse> {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`unsupported upstream URL scheme ${u.protocol}`);
    const r = await this.pool(u.origin).request({
      path: `${u.pathname}${u.search}`,
      method: init.method,
      headers: init.headers,
      ...(init.body !== undefined ? { body: init.body } : {}),
      signal: init.signal,
    });
    const headers = r.headers;
    return {
      status: r.statusCode,
      header: (name) => {
        const v = headers[name];
        return Array.isArray(v) ? v.join(', ') : v;
      },
      body: r.body,
    };
  }

  private pool(origin: string): Pool {
    if (this.closed) throw new Error('the upstream client is closed');
    let p = this.pools.get(origin);
    if (!p) {
      // headersTimeout/bodyTimeout 0: the exchange's own timers decide (see the module comment).
      p = new Pool(origin, { headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 4_000 });
      this.pools.set(origin, p);
    }
    return p;
  }

  /** Drop every connection (in-flight requests have been aborted by then). */
  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => undefined)));
  }
}

/** Read a response body as text, at most about `limit` characters: past that the body is dropped (bounded time and memory). */
export async function readText(body: Readable, limit: number): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const piece of body as AsyncIterable<Buffer>) {
    text += decoder.decode(piece, { stream: true });
    if (text.length >= limit) break; // leaving the loop destroys the body
  }
  return text + decoder.decode();
}
