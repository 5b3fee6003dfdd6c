/**
 * Bad input at the LMC level: a fake `interpreter --server` (the `ws` package on 127.0.0.1) sends malformed,
 * out-of-order, unknown, oversized and hostile frames to the real pieces AuditedInterpreter is made of —
 * LmcConnection, TurnDriver, and an AuditRecorder on in-memory exporters with known integrity keys.
 *
 * For every case: the turn ends (no hang), the bad input is a named audit record, the session's chain
 * verifies (MACs and signatures checked), and the test process's RSS stays within a stated bound of a
 * baseline taken just before the case.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { captureContent, truncateUtf8 } from '../../src/audit/content.js';
import { escapeForLog } from '../../src/record/escape.js';
import { createChainFactory, loadIntegrityKeys } from '../../src/integrity/chain.js';
import { createDefaultRedactor } from '../../src/redact/rules.js';
import { LmcConnection } from '../../src/agents/classic/lmc/lmc-client.js';
import { TurnDriver } from '../../src/agents/classic/lmc/turn-driver.js';
import type { TurnResult } from '../../src/agents/session/turn-result.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { verifySessions, type SessionReport } from '../../src/verify/verify.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';
import { measureRss, type RssReport } from '../helpers/rss.js';

const API_KEY = 'bad-frames-key';
const SEED = Buffer.from('5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed', 'hex');
const KEYS = loadIntegrityKeys({ env: {}, macSeed: SEED });
const MB = 1024 * 1024;

/** A frame the fake server sends: an object (sent as JSON), raw text, raw bytes in a text frame, or a binary frame. */
type Frame = Record<string, unknown> | string | { textBytes: Buffer } | { binary: Buffer };
/** What the fake server sends for a user turn and for `go`; a function is called with a send function (for floods). */
type Reply = Frame[] | ((send: (f: Frame) => void) => void);

const complete = { role: 'server', type: 'status', content: 'complete' };
const message = (text: string): Frame[] => [
  { role: 'assistant', type: 'message', start: true },
  { role: 'assistant', type: 'message', content: text },
  { role: 'assistant', type: 'message', end: true },
];
const codeBlock = (code: string, format = 'python'): Frame[] => [
  { role: 'assistant', type: 'code', format, start: true },
  { role: 'assistant', type: 'code', format, content: code },
  { role: 'assistant', type: 'code', format, end: true },
  complete,
];
const consoleRun = (outputs: string[]): Frame[] => [
  { role: 'computer', type: 'console', start: true },
  { role: 'computer', type: 'console', format: 'active_line', content: 1 },
  ...outputs.map((content) => ({ role: 'computer', type: 'console', format: 'output', content })),
  { role: 'computer', type: 'console', format: 'active_line', content: null },
  { role: 'computer', type: 'console', end: true },
];

function encode(frame: Frame): { data: string | Buffer; binary: boolean } {
  if (typeof frame === 'string') return { data: frame, binary: false };
  if ('binary' in frame && Buffer.isBuffer(frame.binary)) return { data: frame.binary, binary: true };
  if ('textBytes' in frame && Buffer.isBuffer(frame.textBytes)) return { data: frame.textBytes, binary: false };
  return { data: JSON.stringify(frame), binary: false };
}

interface FakeServer {
  url: string;
  close(): Promise<void>;
}

/**
 * A stand-in for Open Interpreter's WebSocket endpoint: answers the auth frame, then replies to each user turn
 * (on its end frame) with `turns[i]`, and to each `go` with `onGo[j]`. Sends wait for the socket to drain.
 */
async function startFakeServer(turns: Reply[], onGo: Reply[] = []): Promise<FakeServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 256 * MB });
  await once(wss, 'listening');
  wss.on('connection', (socket) => {
    let authed = false;
    let turn = 0;
    let go = 0;
    let command = '';
    const play = (reply: Reply | undefined) => {
      if (!reply) return;
      const send = (f: Frame) => {
        const { data, binary } = encode(f);
        if (socket.readyState === WebSocket.OPEN) socket.send(data, { binary });
      };
      if (typeof reply === 'function') reply(send);
      else reply.forEach(send);
    };
    socket.on('message', (raw) => {
      const frame = JSON.parse((raw as Buffer).toString()) as Record<string, unknown>;
      if (!authed) {
        authed = frame.auth === API_KEY;
        socket.send(JSON.stringify({ auth: authed }));
        return;
      }
      if (frame.type === 'command' && typeof frame.content === 'string') command = frame.content;
      if (frame.end !== true) return;
      if (frame.type === 'command') {
        if (command === 'go') play(onGo[go++]);
        return;
      }
      play(turns[turn++]);
    });
  });
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/`,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

/** One row of the summary table printed after the suite. */
interface Row {
  case: string;
  recorded: string;
  records: number;
  chainValid: boolean;
  rssGrowthMb: number;
}
const rows: Row[] = [];
afterAll(() => {
  console.table(rows);
});

interface Run {
  results: TurnResult[];
  bodies: Array<Record<string, any>>;
  errors: Array<Record<string, any>>;
  report: SessionReport;
  rss: RssReport;
}

/**
 * Wire the pieces as AuditedInterpreter does (push mode; a closed socket ends the waiting turn), run the
 * user turns, end the session, and verify the exported bodies.
 */
async function run(name: string, inputs: string[], turns: Reply[], onGo: Reply[] = [], config: Record<string, unknown> = {}): Promise<Run> {
  const server = await startFakeServer(turns, onGo);
  cleanups.push(() => server.close());
  const h = inMemoryRecorder({ config: { capture: 'full', ...config }, chainFactory: createChainFactory(KEYS) });
  const session = h.recorder.openSession({ userId: 'bad-frames', model: 'fake', policy: 'all' });
  const connection = await LmcConnection.connect(server.url, API_KEY, { timeoutMs: 5_000 });
  cleanups.push(() => connection.close());
  const driver = new TurnDriver(session, connection, {
    approve: async () => ({ decision: 'approved', decider: 'policy' }),
    chunkTimeoutMs: 10_000,
  });
  connection.onChunk((chunk) => driver.push(chunk));
  connection.onClose((reason) => driver.close(`connection to Open Interpreter closed: ${reason}`));

  const { result: results, rss } = await measureRss(async () => {
    const out: TurnResult[] = [];
    for (const input of inputs) out.push(await driver.runTurn(input));
    return out;
  });
  await connection.close();
  session.end(results.some((r) => r.outcome === 'error') ? 'error' : 'complete');

  const records = h.logs.getFinishedLogRecords().map((r) => ({ body: r.body as string, attributes: r.attributes }));
  const reports = verifySessions(records, { macSeed: SEED, trustedPublicKeys: [KEYS.signing.publicKeyRaw] });
  expect(reports).toHaveLength(1);
  const report = reports[0]!;
  const bodies = h.bodies();
  const errors = bodies.filter((b) => b.event === AUDIT_EVENTS.error);
  rows.push({
    case: name,
    recorded: [...new Set(errors.map((e) => e.data.type as string))].join(', ') || '(no error)',
    records: bodies.length,
    chainValid: report.status === 'valid',
    rssGrowthMb: rss.growthMb,
  });
  return { results, bodies, errors, report, rss };
}

/** Every case: the session ended, its end is covered by a signed checkpoint, every MAC and signature checked. */
function expectVerifiedTrail(r: Run) {
  expect(r.report.problems.filter((p) => p.severity === 'error')).toEqual([]);
  expect(r.report.status).toBe('valid');
  expect(r.report.complete).toBe(true);
  expect(r.report.mac).toBe('checked');
  expect(r.report.keyTrusted).toBe(true);
  expect(r.bodies.at(-2)!.event).toBe(AUDIT_EVENTS.sessionEnd);
}

const errorTypes = (r: Run) => r.errors.map((e) => e.data.type as string);
const errorText = (r: Run, type: string) =>
  r.errors
    .filter((e) => e.data.type === type)
    .map((e) => e.data.message.text as string)
    .join('\n');
const of = (r: Run, event: string) => r.bodies.filter((b) => b.event === event);

describe('LMC frames that are not LMC chunks', () => {
  it('malformed JSON: each frame is a malformed_frame protocol error, the turn goes on to complete', async () => {
    const r = await run(
      'malformed JSON frames',
      ['hello'],
      [['{"role": "assistant", "type": "message", "content": "cut off', 'not json at all', '{"role":"assistant",}', ...message('Still here.'), complete]],
    );
    expect(r.results[0]!.outcome).toBe('complete');
    expect(errorTypes(r)).toEqual(['malformed_frame', 'malformed_frame', 'malformed_frame']);
    expect(errorText(r, 'malformed_frame')).toMatch(/frame is not JSON/);
    expect(errorText(r, 'malformed_frame')).toContain('cut off');
    expect(of(r, AUDIT_EVENTS.assistantMessage).map((b) => b.data.content.text)).toEqual(['Still here.']);
    expectVerifiedTrail(r);
    expect(r.rss.growthMb).toBeLessThan(100);
  });

  it('non-object frames (array, null, number, string, no role, numeric role) and a binary frame are malformed_frame errors', async () => {
    const r = await run(
      'non-object and binary frames',
      ['hello'],
      [['[1,2]', 'null', '42', '"just a string"', '{"type":"message","content":"no role"}', '{"role":5}', { binary: Buffer.alloc(1 * MB, 0xab) }, ...message('ok'), complete]],
    );
    expect(r.results[0]!.outcome).toBe('complete');
    expect(errorTypes(r)).toEqual(Array(7).fill('malformed_frame'));
    const text = errorText(r, 'malformed_frame');
    for (const what of ['(array)', '(null)', '(number)', '(string)', 'no string "role"', `unexpected binary frame (${1 * MB} bytes)`]) expect(text).toContain(what);
    expectVerifiedTrail(r);
    expect(r.rss.growthMb).toBeLessThan(100);
  });

  it('a text frame with invalid UTF-8 makes ws close the socket: the turn ends as connection_lost, no hang', async () => {
    const r = await run('invalid UTF-8 text frame', ['hello'], [[...message('before'), { textBytes: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]) }]]);
    expect(r.results[0]!.outcome).toBe('error');
    expect(errorTypes(r)).toEqual(['connection_lost']);
    expect(errorText(r, 'connection_lost')).toMatch(/invalid UTF-8/);
    // The message that arrived before the bad frame is recorded.
    expect(of(r, AUDIT_EVENTS.assistantMessage).map((b) => b.data.content.text)).toEqual(['before']);
    expectVerifiedTrail(r);
    expect(r.rss.growthMb).toBeLessThan(100);
  });

  it('a flood of malformed frames: the first 100 recorded one by one, the rest counted in one record', async () => {
    const r = await run('1000 malformed frames', ['hello'], [(send) => {
      for (let i = 0; i < 1000; i++) send(`garbage ${i}`);
      send(complete);
    }]);
    expect(r.results[0]!.outcome).toBe('complete');
    expect(errorTypes(r).filter((t) => t === 'malformed_frame')).toHaveLength(100);
    expect(errorText(r, 'protocol_errors_suppressed')).toContain('900 more protocol error(s)');
    expectVerifiedTrail(r);
    expect(r.rss.growthMb).toBeLessThan(150);
  });
});

describe('out-of-order LMC chunks', () => {
  it('end without start, content before start, start while another is open, complete with a stream open: out_of_order_chunk, and the content is still recorded', async () => {
    const r = await run('out-of-order frames', ['hello'], [[
      { role: 'assistant', type: 'message', end: true },
      { role: 'assistant', type: 'message', content: 'no start frame' },
      { role: 'assistant', type: 'message', end: true },
      { role: 'assistant', type: 'message', start: true },
      { role: 'assistant', type: 'message', content: 'left open' },
      { role: 'assistant', type: 'code', format: 'python', start: true },
      { role: 'assistant', type: 'code', format: 'python', content: 'print("never ended")' },
      complete,
    ]], [[...consoleRun(['never ended\n']), complete]]);
    const messages = errorText(r, 'out_of_order_chunk');
    expect(messages).toContain('assistant/message end without its start frame');
    expect(messages).toContain('assistant/message content without its start frame');
    expect(messages).toContain('assistant/code start while assistant/message was still open');
    expect(messages).toContain('complete status while assistant/code was open');
    expect(of(r, AUDIT_EVENTS.assistantMessage).map((b) => b.data.content.text)).toEqual(['no start frame', 'left open']);
    // The block whose end never came was still held for a decision and recorded.
    expect(of(r, AUDIT_EVENTS.codeGenerated).map((b) => b.data.code.text)).toEqual(['print("never ended")']);
    expect(of(r, AUDIT_EVENTS.approvalDecision)).toHaveLength(1);
    expectVerifiedTrail(r);
    expect(r.rss.growthMb).toBeLessThan(100);
  });

  it('console output with no approved block running: output_without_execution with its length and hash, not attributed to the next block', async () => {
    const unapproved = 'ran without approval\n'.repeat(10);
    const r = await run('console output with no execution', ['hello'], [[...consoleRun([unapproved]), ...message('Let me run it.'), ...codeBlock('print(1)')]], [[...consoleRun(['1\n']), complete]]);
    expect(r.results[0]!).toMatchObject({ outcome: 'complete', executed: 1 });
    const text = errorText(r, 'output_without_execution');
    expect(text).toContain(`${Buffer.byteLength(unapproved)} bytes, sha256 ${createHash('sha256').update(unapproved).digest('hex')}`);
    expect(text).toContain('ran without approval');
    const final = of(r, AUDIT_EVENTS.commandOutput).at(-1)!;
    expect(final.data).toMatchObject({ final: true, total_bytes: 2 });
    expectVerifiedTrail(r);
    expect(r.rss.growthMb).toBeLessThan(100);
  });

  it('a duplicate complete does not end the next turn early: it is recorded there as a stale_chunk', async () => {
    const r = await run('stale complete between turns', ['first', 'second'], [[...message('one'), complete, complete], [...message('two'), complete]]);
    expect(r.results.map((x) => x.outcome)).toEqual(['complete', 'complete']);
    expect(errorTypes(r)).toEqual(['stale_chunk']);
    const stale = r.errors[0]!;
    expect(stale.data.turn).toBe(1);
    expect(stale.data.message.text).toContain('1 chunk(s) arrived after the previous turn ended');
    // Each turn got its own reply.
    expect(of(r, AUDIT_EVENTS.assistantMessage).map((b) => [b.data.turn, b.data.content.text])).toEqual([[0, 'one'], [1, 'two']]);
    expectVerifiedTrail(r);
  });

  it('output split by an image stays with its execution (Open Interpreter wraps images in start/end between console runs)', async () => {
    const r = await run('console, image, console', ['plot'], [[...codeBlock('plot()')]], [[
      ...consoleRun(['before\n']),
      { role: 'computer', type: 'image', format: 'base64.png', start: true },
      { role: 'computer', type: 'image', format: 'base64.png', content: 'iVBORw0KGgo=' },
      { role: 'computer', type: 'image', format: 'base64.png', end: true },
      ...consoleRun(['after\n']),
      ...message('Plotted.'),
      complete,
    ]]);
    expect(errorTypes(r)).toEqual([]);
    const outputs = of(r, AUDIT_EVENTS.commandOutput);
    expect(outputs.find((b) => b.data.kind === 'image')!.data.format).toBe('base64.png');
    const final = outputs.at(-1)!;
    expect(final.data).toMatchObject({ final: true, total_bytes: 13, images: 1 });
    expect(final.data.output.text).toBe('before\nafter\n');
    expectVerifiedTrail(r);
  });
});

describe('unknown and hostile chunk contents', () => {
  it('unknown roles and types (content, start and end frames): unknown_chunk once per kind', async () => {
    const r = await run('unknown roles/types', ['hello'], [[
      { role: 'alien', type: 'probe', content: 1 },
      { role: 'alien', type: 'probe', content: 2 },
      { role: 'assistant', type: 'hologram', start: true },
      { role: 'assistant', type: 'hologram', content: 'x' },
      { role: 'assistant', type: 'hologram', end: true },
      { role: 'computer', type: 'smell', format: 'roses', content: 'sniff' },
      { role: 'x'.repeat(10_000), type: 'y' },
      ...message('fine'),
      complete,
    ]]);
    expect(r.results[0]!.outcome).toBe('complete');
    const unknown = r.errors.filter((e) => e.data.type === 'unknown_chunk').map((e) => e.data.message.text as string);
    expect(unknown.slice(0, 3)).toEqual(['unexpected LMC chunk alien/probe', 'unexpected LMC chunk assistant/hologram', 'unexpected LMC chunk computer/smell']);
    // A 10 000-character role is cut to 100 characters in the record.
    expect(unknown[3]!.length).toBeLessThan(150);
    expect(of(r, AUDIT_EVENTS.assistantMessage).map((b) => b.data.content.text)).toEqual(['fine']);
    expectVerifiedTrail(r);
  });

  it('deeply nested JSON in a server error and in message content: recorded (server_error, invalid_chunk), no stack overflow', async () => {
    const depth = 200_000;
    const nested = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const r = await run('deeply nested JSON content', ['hello'], [[
      `{"role":"server","type":"error","content":${nested}}`,
      { role: 'assistant', type: 'message', start: true },
      `{"role":"assistant","type":"message","content":${nested}}`,
      { role: 'assistant', type: 'message', content: 'text after' },
      { role: 'assistant', type: 'message', end: true },
      { role: 'server', type: 'error' },
      complete,
    ]]);
    expect(r.results[0]!.outcome).toBe('error');
    expect(errorTypes(r)).toEqual(['server_error', 'invalid_chunk', 'server_error']);
    expect(r.errors[0]!.data.message.text).toMatch(/array that cannot be serialised/);
    expect(r.errors[1]!.data.message.text).toBe('assistant/message content is an array, not a string');
    expect(r.errors[2]!.data.message.text).toBe('undefined');
    expect(of(r, AUDIT_EVENTS.assistantMessage).map((b) => b.data.content.text)).toEqual(['text after']);
    expectVerifiedTrail(r);
    expect(r.rss.growthMb).toBeLessThan(200);
  });

  it('lone surrogates and control characters in format, content and role: escaped in the record, the chain stays canonical', async () => {
    const r = await run('lone surrogates / controls in labels', ['hello'], [[
      { role: 'assistant', type: 'message', start: true },
      { role: 'assistant', type: 'message', content: 'half a pair: \udcff, bell: \u0007' },
      { role: 'assistant', type: 'message', end: true },
      { role: '\ud800evil\u001b[2J', type: 'x' },
      ...codeBlock('print("\udc00")', 'py\udcffthon\u001b'),
    ]], [[
      ...consoleRun(['\ud83d', 'out\u0000put\n']),
      { role: 'computer', type: 'image', format: 'base64.\udcffpng', start: true },
      { role: 'computer', type: 'image', format: 'base64.\udcffpng', content: 'AAAA' },
      { role: 'computer', type: 'image', format: 'base64.\udcffpng', end: true },
      complete,
    ]]);
    expect(r.results[0]!).toMatchObject({ outcome: 'complete', executed: 1 });
    expect(of(r, AUDIT_EVENTS.assistantMessage)[0]!.data.content.text).toBe('half a pair: \\u{dcff}, bell: \\u{0007}');
    expect(of(r, AUDIT_EVENTS.codeGenerated)[0]!.data.language).toBe('py\\u{dcff}thon\\u{001b}');
    expect(errorText(r, 'unknown_chunk')).toContain('\\u{d800}evil\\u{001b}[2J/x');
    expect(of(r, AUDIT_EVENTS.commandOutput).find((b) => b.data.kind === 'image')!.data.format).toBe('base64.\\u{dcff}png');
    expectVerifiedTrail(r);
  });
});

describe('oversized frames and floods', () => {
  it('a 10 MB single frame of assistant prose and a 10 MB single frame of output: recorded truncated, length and hash of all of it', async () => {
    const prose = '\u001b[31mHOSTILE\u001b[0m \u202eesrever\u202c \r\n'.repeat(Math.ceil((10 * MB) / 40)).slice(0, 10 * MB);
    const out = 'y'.repeat(10 * MB);
    const r = await run(
      '10 MB single frames',
      ['hello'],
      [[{ role: 'assistant', type: 'message', start: true }, { role: 'assistant', type: 'message', content: prose }, { role: 'assistant', type: 'message', end: true }, ...codeBlock('print("y" * 10485760)')]],
      [[...consoleRun([out]), complete]],
      { maxContentBytes: 8192 },
    );
    expect(r.results[0]!).toMatchObject({ outcome: 'complete', executed: 1 });
    const message = of(r, AUDIT_EVENTS.assistantMessage)[0]!.data.content;
    expect(message).toMatchObject({ bytes: Buffer.byteLength(prose), sha256: createHash('sha256').update(prose).digest('hex'), truncated: true });
    expect(Buffer.byteLength(message.text)).toBeLessThanOrEqual(8192);
    const parts = of(r, AUDIT_EVENTS.commandOutput);
    for (const p of parts) expect(Buffer.byteLength(p.data.output.text)).toBeLessThanOrEqual(8192);
    expect(parts.at(-1)!.data).toMatchObject({ final: true, total_bytes: out.length, total_sha256: createHash('sha256').update(out).digest('hex') });
    expect(parts.reduce((n, p) => n + (p.data.output.bytes as number), 0)).toBe(out.length);
    expectVerifiedTrail(r);
    expect(r.rss.growthMb).toBeLessThan(400);
  });

  it('1 MB of blank lines before a traceback: the error is still found, in bounded time and memory (the error scan reads head and tail)', async () => {
    const blank = '\n'.repeat(1 * MB);
    const traceback = 'Traceback (most recent call last):\n  File "<stdin>", line 1, in <module>\nValueError: boom-7';
    const r = await run('1 MB blank lines + traceback', ['hello'], [[...codeBlock('fail()')]], [[...consoleRun([blank.slice(0, MB / 2), blank.slice(MB / 2), traceback]), complete]], { maxContentBytes: 8192 });
    expect(r.results[0]!).toMatchObject({ outcome: 'complete', executed: 1 });
    expect(errorTypes(r)).toEqual(['execution_error']);
    expect(errorText(r, 'execution_error')).toBe('Traceback (most recent call last):');
    expect(of(r, AUDIT_EVENTS.commandOutput).at(-1)!.data).toMatchObject({ final: true, total_bytes: MB + traceback.length });
    expectVerifiedTrail(r);
    expect(r.rss.growthMb).toBeLessThan(200);
  });

  it('a flood of 100 000 tiny output chunks: every byte counted and hashed, parts bounded', async () => {
    const n = 100_000;
    const piece = (i: number) => `${i % 10}`;
    const r = await run('100k tiny output chunks', ['hello'], [[...codeBlock('flood()')]], [(send) => {
      send({ role: 'computer', type: 'console', start: true });
      for (let i = 0; i < n; i++) send({ role: 'computer', type: 'console', format: 'output', content: piece(i) });
      send({ role: 'computer', type: 'console', end: true });
      send(complete);
    }], { maxContentBytes: 8192 });
    expect(r.results[0]!).toMatchObject({ outcome: 'complete', executed: 1 });
    const expected = createHash('sha256');
    for (let i = 0; i < n; i++) expected.update(piece(i));
    const parts = of(r, AUDIT_EVENTS.commandOutput);
    expect(parts.at(-1)!.data).toMatchObject({ final: true, total_bytes: n, total_sha256: expected.digest('hex') });
    expect(parts.reduce((n2, p) => n2 + (p.data.output.bytes as number), 0)).toBe(n);
    expect(errorTypes(r)).toEqual([]);
    expectVerifiedTrail(r);
    expect(r.rss.growthMb).toBeLessThan(300);
  });
});

describe('captureContent on large hostile text (escapes only what the record can hold)', () => {
  it('records exactly what escaping the whole text and then truncating would, for texts around the limit', () => {
    const redactor = createDefaultRedactor();
    const alphabet = ['a', 'é', '\u001b', '\u202e', '\r', '\n', '\ud83d\ude00', '\ud800', '\udc00', '\u0000', '\udb40\udc41', 'z'];
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (const maxBytes of [1, 2, 3, 7, 16, 64]) {
      for (let k = 0; k < 200; k++) {
        let text = '';
        const len = rand(maxBytes * 3 + 4);
        while (text.length < len) text += alphabet[rand(alphabet.length)]!;
        const reference = truncateUtf8(escapeForLog(text), maxBytes);
        const captured = captureContent(text, { mode: 'full', redactor, maxBytes });
        expect(captured.text).toBe(reference.text);
        expect(captured.truncated === true).toBe(reference.truncated);
      }
    }
  });
});
