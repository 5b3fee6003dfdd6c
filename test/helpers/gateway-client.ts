/**
 * The client side of the gateway tests: a WebSocket client that keeps every message, a raw first frame
 * (for frames no WebSocket library would send), and the built CLI's `oi-audit gateway` started as a
 * child process, ready once it prints its ws:// URL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import WebSocket from 'ws';
import { CLI } from './cli.js';

export type GatewayMessage = Record<string, any>;

/** A client that records every message and its close. */
export function gatewayClient(url: string, token: string, headers: Record<string, string> = {}) {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}`, ...headers } });
  const messages: GatewayMessage[] = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (d: Buffer) => {
    messages.push(JSON.parse(d.toString('utf8')) as GatewayMessage);
    waiters.splice(0).forEach((w) => w());
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  const errored = new Promise<Error>((resolve) => ws.on('error', resolve));
  const opened = new Promise<void>((resolve) => ws.on('open', () => resolve()));
  const waitFor = async (pred: (m: GatewayMessage) => boolean, ms = 90_000): Promise<GatewayMessage> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = messages.find(pred);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no matching message; got ${JSON.stringify(messages.map((m) => m.type))}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 500);
      });
    }
  };
  return { ws, messages, closed, errored, opened, waitFor, send: (m: unknown) => ws.send(JSON.stringify(m)) };
}

/** Opens a raw TCP connection, does the WebSocket handshake, and writes `frame` as the first frame; resolves with all it read. */
export function rawFrame(port: number, token: string, frame: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = netConnect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let sent = false;
    sock.on('error', reject);
    sock.on('data', (d) => {
      data = Buffer.concat([data, d]);
      if (!sent && data.includes('\r\n\r\n')) {
        sent = true;
        sock.write(frame);
      }
    });
    sock.on('close', () => resolve(data.toString('latin1')));
    sock.write(
      `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\n\r\n`,
    );
  });
}

/** A client frame (masked, as RFC 6455 requires of clients) with `opcode` and `payload`. */
export function masked(opcode: number, payload: Buffer, fin = true): Buffer {
  const mask = randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  const len = payload.length;
  const head = len < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len]) : Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, len >> 8, len & 0xff]);
  return Buffer.concat([head, mask, body]);
}

export interface GatewayProcess {
  child: ChildProcess;
  /** The ws:// URL it printed. */
  url: string;
  /** How it exited. */
  exited: Promise<{ code: number | null; signal: string | null }>;
  /** Everything it printed on stderr so far. */
  stderr(): string;
}

/**
 * `oi-audit gateway <args>` from the built CLI, `env` added to this process's environment (NO_COLOR set);
 * its SIGKILL goes into `cleanups` at once, so a gateway that never gets ready is not left behind.
 * Resolves once stderr matches `ready` (group 1: the URL); rejects with the stderr when it exits first.
 */
export async function startGatewayCli(
  args: string[],
  env: Record<string, string>,
  cleanups: Array<() => Promise<unknown>>,
  ready = /listening on (ws:\/\/\S+)/,
): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [CLI, 'gateway', ...args], { env: { ...process.env, ...env, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
  cleanups.push(() => Promise.resolve(child.kill('SIGKILL')));
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
      const m = ready.exec(stderr);
      if (m) resolve(m[1]!);
    });
    child.on('exit', () => reject(new Error(stderr)));
  });
  return { child, url, exited, stderr: () => stderr };
}
