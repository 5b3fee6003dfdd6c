import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';

import { LmcConnection, PROTOCOL_ERROR_FORMAT, parseLmcFrame } from '../../src/agents/classic/lmc/lmc-client.js';
import type { LmcChunk } from '../../src/agents/session/lmc-chunk.js';

const API_KEY = 'test-key-123';
const COMPLETE = { role: 'server', type: 'status', content: 'complete' };

interface FakeServer {
  url: string;
  /** Resolves with the server side of the next connection, after it sent a correct auth frame. */
  nextClient(): Promise<{ socket: WebSocket; received: unknown[] }>;
  close(): Promise<void>;
}

type AuthBehaviour = 'accept' | 'reject' | 'silent' | 'garbage';

/** A stand-in for `interpreter --server`'s WebSocket endpoint: auth handshake, then records what it receives. */
async function startFakeServer(auth: AuthBehaviour = 'accept'): Promise<FakeServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const pending: ((client: { socket: WebSocket; received: unknown[] }) => void)[] = [];
  wss.on('connection', (socket) => {
    const received: unknown[] = [];
    let authed = false;
    socket.on('message', (data) => {
      const frame: unknown = JSON.parse((data as Buffer).toString());
      if (authed) {
        received.push(frame);
        return;
      }
      const ok = (frame as { auth?: unknown }).auth === API_KEY;
      if (auth === 'silent') return;
      if (auth === 'garbage') return socket.send('{"role":"assistant","type":"message","content":"too early"}');
      if (auth === 'accept' && ok) {
        authed = true;
        socket.send(JSON.stringify({ auth: true }));
        pending.shift()?.({ socket, received });
      } else {
        socket.send(JSON.stringify({ auth: false }));
      }
    });
  });
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/`,
    nextClient: () => new Promise((resolve) => pending.push(resolve)),
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

const servers: FakeServer[] = [];
const connections: LmcConnection[] = [];
afterEach(async () => {
  await Promise.all(connections.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function connected(auth: AuthBehaviour = 'accept') {
  const server = await startFakeServer(auth);
  servers.push(server);
  const client = server.nextClient();
  const connection = await LmcConnection.connect(server.url, API_KEY, { timeoutMs: 2_000 });
  connections.push(connection);
  return { server, connection, ...(await client) };
}

async function waitUntil(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('LmcConnection: auth and framing', () => {
  it('authenticates with {"auth": key} and frames user turns and commands as start/content/end', async () => {
    const { connection, received } = await connected();
    await connection.sendUserMessage('What is 2+2?');
    await connection.sendCommand('go');
    await connection.sendCommand('stop');
    await waitUntil(() => received.length === 9);
    expect(received).toEqual([
      { role: 'user', start: true },
      { role: 'user', type: 'message', content: 'What is 2+2?' },
      { role: 'user', end: true },
      { role: 'user', type: 'command', start: true },
      { role: 'user', type: 'command', content: 'go' },
      { role: 'user', type: 'command', end: true },
      { role: 'user', type: 'command', start: true },
      { role: 'user', type: 'command', content: 'stop' },
      { role: 'user', type: 'command', end: true },
    ]);
  });

  it('rejects with a clear error on {"auth": false}, without echoing the key', async () => {
    const server = await startFakeServer('reject');
    servers.push(server);
    const error = await LmcConnection.connect(server.url, API_KEY, { timeoutMs: 2_000 }).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/authentication rejected/);
    expect((error as Error).message).not.toContain(API_KEY);
  });

  it('rejects when the server never answers the auth frame', async () => {
    const server = await startFakeServer('silent');
    servers.push(server);
    await expect(LmcConnection.connect(server.url, API_KEY, { timeoutMs: 300 })).rejects.toThrow(/no auth reply within 300 ms/);
  });

  it('rejects when the first reply is not an auth reply', async () => {
    const server = await startFakeServer('garbage');
    servers.push(server);
    await expect(LmcConnection.connect(server.url, API_KEY, { timeoutMs: 2_000 })).rejects.toThrow(/expected the auth reply/);
  });

  it('rejects when nothing listens', async () => {
    const server = await startFakeServer();
    const url = server.url;
    await server.close();
    await expect(LmcConnection.connect(url, API_KEY, { timeoutMs: 2_000 })).rejects.toThrow(/LMC connect to .* failed/);
  });
});

describe('LmcConnection: receiving', () => {
  it('collects a turn up to the complete status, reporting malformed frames as protocol errors', async () => {
    const { connection, socket } = await connected();
    socket.send(JSON.stringify({ role: 'assistant', type: 'code', format: 'python', start: true }));
    socket.send('not json at all');
    socket.send('[1,2]');
    socket.send('{"no_role": true}');
    socket.send(Buffer.from([1, 2, 3]), { binary: true });
    socket.send(JSON.stringify({ role: 'assistant', type: 'code', format: 'python', content: "print('hi')" }));
    socket.send(JSON.stringify({ role: 'server', type: 'error', content: 'Traceback...\nboom' }));
    socket.send(JSON.stringify(COMPLETE));

    const turn = await connection.nextTurnEnd({ timeoutMs: 2_000 });
    expect(turn.outcome).toBe('complete');
    expect(turn.chunks.map((c) => c.content ?? null)).toEqual([null, "print('hi')", 'Traceback...\nboom', 'complete']);
    expect(turn.serverErrors).toEqual(['Traceback...\nboom']);
    expect(turn.protocolErrors).toEqual([
      expect.stringMatching(/not JSON/),
      expect.stringMatching(/not a JSON object \(array\)/),
      expect.stringMatching(/no string "role"/),
      expect.stringMatching(/binary frame/),
    ]);
  });

  it('ends a turn with outcome "closed" when the socket closes mid-turn, and never hangs afterwards', async () => {
    const { connection, socket } = await connected();
    socket.send(JSON.stringify({ role: 'computer', type: 'console', start: true }));
    socket.send(JSON.stringify({ role: 'computer', type: 'console', format: 'output', content: 'partial\n' }));
    setTimeout(() => socket.terminate(), 50);

    const turn = await connection.nextTurnEnd({ timeoutMs: 5_000 });
    expect(turn.outcome).toBe('closed');
    expect(turn.chunks).toHaveLength(2);
    expect(turn.closeReason).toMatch(/WebSocket closed with code 1006/);
    // Pulling again returns the closed event at once; sending fails loudly.
    expect((await connection.next(100)).kind).toBe('closed');
    await expect(connection.sendCommand('go')).rejects.toThrow(/not open/);
    expect(connection.isOpen).toBe(false);
  });

  it('reports a turn that never completes (e.g. after stop) as a timeout', async () => {
    const { connection, socket } = await connected();
    socket.send(JSON.stringify({ role: 'computer', type: 'console', format: 'output', content: 'tick\n' }));
    const turn = await connection.nextTurnEnd({ timeoutMs: 200 });
    expect(turn.outcome).toBe('timeout');
    expect(turn.chunks).toHaveLength(1);
  });

  it('iterates events with for-await until closed', async () => {
    const { connection, socket } = await connected();
    socket.send(JSON.stringify({ role: 'assistant', type: 'message', content: 'a' }));
    socket.send(JSON.stringify(COMPLETE));
    setTimeout(() => socket.close(1000, 'bye'), 50);
    const kinds: string[] = [];
    for await (const event of connection) kinds.push(event.kind === 'closed' ? `closed:${event.code}` : event.kind);
    expect(kinds).toEqual(['chunk', 'chunk', 'closed:1000']);
  });

  it('push mode: onChunk gets buffered and live chunks, protocol errors as synthesised error chunks, onClose the reason', async () => {
    const { connection, socket } = await connected();
    const reasons: string[] = [];
    connection.onClose((reason) => reasons.push(reason));
    socket.send(JSON.stringify({ role: 'assistant', type: 'message', content: 'buffered' }));
    await new Promise((r) => setTimeout(r, 50)); // arrives before anyone listens

    const chunks: LmcChunk[] = [];
    connection.onChunk((chunk) => chunks.push(chunk));
    socket.send('{broken');
    socket.send(JSON.stringify(COMPLETE));
    await waitUntil(() => chunks.length === 3);
    socket.close(4000, 'server going away');
    await waitUntil(() => reasons.length === 1);

    expect(chunks[0]?.content).toBe('buffered');
    expect(chunks[1]).toMatchObject({ role: 'server', type: 'error', format: PROTOCOL_ERROR_FORMAT });
    expect(String(chunks[1]?.content)).toMatch(/malformed frame .*not JSON.*\{broken/);
    expect(chunks[2]).toEqual(COMPLETE);
    expect(reasons[0]).toMatch(/code 4000: server going away/);
    expect(() => connection.next()).toThrow(/push mode/);
    // A listener registered after the close still hears about it.
    const late = await new Promise<string>((resolve) => connection.onClose(resolve));
    expect(late).toMatch(/4000/);
  });

  it('a throwing listener does not stop delivery to the others', async () => {
    const { connection, socket } = await connected();
    const seen: unknown[] = [];
    connection.onChunk(() => {
      throw new Error('consumer bug');
    });
    connection.onChunk((chunk) => seen.push(chunk.content));
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      socket.send(JSON.stringify({ role: 'assistant', type: 'message', content: 'x' }));
      await waitUntil(() => seen.length === 1 && warnings.length === 1);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings[0]).toMatch(/consumer bug/);
  });
});

describe('parseLmcFrame', () => {
  it('accepts objects with a string role and describes everything else', () => {
    expect(parseLmcFrame('{"role":"computer","type":"console","format":"active_line","content":null}')).toEqual({
      role: 'computer',
      type: 'console',
      format: 'active_line',
      content: null,
    });
    expect(parseLmcFrame('"complete"')).toMatch(/not a JSON object \(string\)/);
    expect(parseLmcFrame('null')).toMatch(/not a JSON object \(null\)/);
    expect(parseLmcFrame('{"role": 5}')).toMatch(/no string "role"/);
  });
});
