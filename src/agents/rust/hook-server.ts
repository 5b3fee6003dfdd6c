/**
 * The per-session Unix socket the PreToolUse hook talks to. One request per connection: a line
 * `{"token": …, "input": <Codex's hook input>}`, answered with `{"decision": "allow"|"deny", "reason": …}`.
 *
 * The token (32 random bytes) reaches the hook through Codex's environment, which Codex keeps from the
 * commands it runs (shell_environment_policy excludes it); the socket lives in the session's private home.
 * A wrong token, a malformed request or a handler failure is answered `deny` (and reported), so a caller
 * that is not the session's hook can never obtain an `allow`.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { isObject } from '../../record/json-shape.js';

export interface HookAnswer {
  decision: 'allow' | 'deny';
  reason?: string;
}

export interface HookServerOptions {
  socketPath: string;
  /** Decides one hook call. A throw or rejection is answered `deny`. */
  handle: (input: Record<string, unknown>) => Promise<HookAnswer>;
  /** A request that was refused before reaching `handle` (bad token, malformed). */
  onRejected?: (why: string) => void;
  maxRequestBytes?: number;
}

export interface HookServer {
  socketPath: string;
  /** Give to the hook (environment variable OI_AUDIT_HOOK_TOKEN); never recorded. */
  token: string;
  close(): Promise<void>;
}


export async function startHookServer(options: HookServerOptions): Promise<HookServer> {
  const token = randomBytes(32).toString('hex');
  const expected = Buffer.from(token, 'utf8');
  const maxBytes = options.maxRequestBytes ?? 16 * 1024 * 1024;
  const sockets = new Set<Socket>();
  const rejected = (why: string) => {
    try {
      options.onRejected?.(why);
    } catch {
      // reporting must not break the server
    }
  };

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const answer = (a: HookAnswer) => {
      if (!socket.destroyed) socket.end(`${JSON.stringify(a)}\n`);
    };
    let buffered = '';
    let done = false;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      if (done) return;
      buffered += d;
      if (buffered.length > maxBytes) {
        done = true;
        rejected(`hook request larger than ${maxBytes} bytes`);
        answer({ decision: 'deny', reason: 'oi-audit: hook request too large: denied' });
        return;
      }
      const nl = buffered.indexOf('\n');
      if (nl === -1) return;
      done = true;
      let request: unknown;
      try {
        request = JSON.parse(buffered.slice(0, nl));
      } catch {
        rejected('hook request is not JSON');
        answer({ decision: 'deny', reason: 'oi-audit: malformed hook request: denied' });
        return;
      }
      const presented = isObject(request) && typeof request.token === 'string' ? Buffer.from(request.token, 'utf8') : Buffer.alloc(0);
      if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
        rejected('hook request with a wrong or missing token');
        answer({ decision: 'deny', reason: 'oi-audit: unauthenticated hook request: denied' });
        return;
      }
      const input = (request as Record<string, unknown>).input;
      if (!isObject(input)) {
        rejected('hook request without an input object');
        answer({ decision: 'deny', reason: 'oi-audit: hook request without input: denied' });
        return;
      }
      options.handle(input).then(answer, (err: unknown) =>
        answer({ decision: 'deny', reason: `oi-audit could not record this call (${err instanceof Error ? err.message : String(err)}): denied (fail-closed)` }),
      );
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });

  return {
    socketPath: options.socketPath,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
