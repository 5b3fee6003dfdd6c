/**
 * Bad input from the real Open Interpreter 0.4.3 and from a hostile model: 50 MB of output from one command,
 * binary output, invalid UTF-8, a flood of tiny chunks, deeply nested JSON in the user's message and in the
 * model's reply, a huge reply and a malformed SSE stream. Each case is one audited session (scripted model →
 * LLM proxy → `interpreter --server` → LmcConnection/TurnDriver → AuditRecorder on in-memory exporters with
 * known integrity keys), and each asserts: what was recorded (named events and error types), that the
 * session's chain verifies (MACs and signatures checked), and that the test process's RSS stays bounded
 * (peak growth over a post-GC baseline taken just before the turn; timing is not asserted).
 *
 * Observed here (see docs/open-interpreter-protocol.md for the rest): the Jupyter path sends at most ~10
 * output frames a second (`_capture_output` sleeps 0.1 s per message), so Python output is written in 1 MiB
 * pieces; the shell path has no such limit, so the flood of tiny chunks comes from `seq`. Invalid UTF-8
 * never reaches the WebSocket: Python's fd capture and the shell reader decode with errors="replace".
 */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { approvalFor } from '../../src/approval/modes.js';
import { AuditedInterpreter } from '../../src/agents/classic/audited-interpreter.js';
import { startLlmProxy } from '../../src/llm-proxy/proxy.js';
import { startScriptedModel, type ScriptedFaults, type ScriptedModelOptions } from '../../src/demo/scripted-model.js';
import type { LmcChunk } from '../../src/agents/session/lmc-chunk.js';
import type { TurnResult } from '../../src/agents/session/turn-result.js';
import { createChainFactory, loadIntegrityKeys } from '../../src/integrity/chain.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { verifySessions, type SessionReport } from '../../src/verify/verify.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';
import { measureRss, type RssReport } from '../helpers/rss.js';

const SEED = Buffer.from('bad1bad1bad1bad1bad1bad1bad1bad1bad1bad1bad1bad1bad1bad1bad1bad1', 'hex');
const KEYS = loadIntegrityKeys({ env: {}, macSeed: SEED });
const MiB = 1024 * 1024;
/** Recorded text per content field; small, so 50 MB of output cannot hide in the records. */
const MAX_CONTENT_BYTES = 8192;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

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

interface CaseRun {
  name: string;
  result: TurnResult;
  bodies: Array<Record<string, any>>;
  errors: Array<Record<string, any>>;
  chunks: { output: number; total: number };
  report: SessionReport;
  rss: RssReport;
  model: Awaited<ReturnType<typeof startScriptedModel>>;
}

/** A code block in a scripted reply (Open Interpreter's text mode: one fenced block). */
const reply = (language: string, code: string, prose = 'Running it.') => `${prose}\n\n\`\`\`${language}\n${code}\n\`\`\`\n`;

/**
 * One audited session with one user turn: the scripted model answers `user` with `replies` (then "Done."),
 * every block is approved, RSS is sampled during the turn, and the exported bodies are verified.
 */
async function runCase(
  name: string,
  user: string,
  replies: string[],
  opts: { faults?: ScriptedFaults; model?: Partial<ScriptedModelOptions> } = {},
): Promise<CaseRun> {
  const model = await startScriptedModel({ script: { turns: [{ user, replies }] }, ...opts.model, ...(opts.faults ? { faults: opts.faults } : {}) });
  cleanups.push(() => model.close());
  // clientStallTimeoutMs: Open Interpreter re-parses its whole message for every chunk, so on a 4 MiB reply
  // (under strace, on a loaded 2-core machine) it can leave the socket unread for longer than the proxy's 5 s
  // default, after which the proxy ends the call as a stalled client (declared: client_disconnected). These
  // cases test what is recorded of hostile content, not that guard.
  const proxy = await startLlmProxy({ upstreamBaseUrl: model.url, upstreamApiKey: 'upstream-key-bad-input', requestTimeoutMs: 30_000, clientStallTimeoutMs: 120_000 });
  cleanups.push(() => proxy.close());
  const h = inMemoryRecorder({ config: { capture: 'full', maxContentBytes: MAX_CONTENT_BYTES }, chainFactory: createChainFactory(KEYS) });
  const approval = approvalFor('all');
  const chunks = { output: 0, total: 0 };
  const interpreter = await AuditedInterpreter.start({
    recorder: h.recorder,
    proxy,
    userId: 'bad-input',
    model: 'scripted',
    approve: approval.hook,
    policyName: approval.name,
    workDir: mkdtempSync(join(tmpdir(), 'oi-bad-input-')),
    chunkTimeoutMs: 120_000,
    // The defaults: bubblewrap sandbox and strace ground truth (OI_AUDIT_SANDBOX / OI_AUDIT_GROUND_TRUTH of
    // the environment the suite runs in). The tracer slows the kernel, which is what exposed ipykernel's late
    // publication of captured fd output (kernel-drain.ts); nothing may be lost with it on.
    onChunk: (c: LmcChunk) => {
      chunks.total++;
      if (c.type === 'console' && c.format === 'output') chunks.output++;
    },
  });
  cleanups.push(() => interpreter.close());
  const { result, rss } = await measureRss(() => interpreter.send(user));
  await interpreter.close();

  const records = h.logs.getFinishedLogRecords().map((r) => ({ body: typeof r.body === 'string' ? r.body : JSON.stringify(r.body), attributes: r.attributes }));
  const reports = verifySessions(records, { macSeed: SEED, trustedPublicKeys: [KEYS.signing.publicKeyRaw] });
  expect(reports).toHaveLength(1);
  const report = reports[0]!;
  const bodies = h.bodies();
  const errors = bodies.filter((b) => b.event === AUDIT_EVENTS.error);
  return { name, result, bodies, errors, chunks, report, rss, model };
}

/** A row of the summary table: what the case recorded, in words, plus the error types. */
function row(r: CaseRun, recorded: string) {
  const types = [...new Set(errorTypes(r))];
  rows.push({
    case: r.name,
    recorded: `${recorded}${types.length ? `; errors: ${types.join(', ')}` : ''}`,
    records: r.bodies.length,
    chainValid: r.report.status === 'valid',
    rssGrowthMb: r.rss.growthMb,
  });
}

/** The session ended, its end is covered by a signed checkpoint, every MAC and signature checked, nothing missing. */
function expectVerifiedTrail(r: CaseRun) {
  expect(r.report.problems.filter((p) => p.severity === 'error')).toEqual([]);
  expect(r.report.status).toBe('valid');
  expect(r.report.complete).toBe(true);
  expect(r.report.mac).toBe('checked');
  expect(r.report.keyTrusted).toBe(true);
  expect(r.report.missing).toEqual([]);
  expect(r.bodies.map((b) => b.seq)).toEqual(r.bodies.map((_, i) => i));
  expect(r.bodies.at(-2)!.event).toBe(AUDIT_EVENTS.sessionEnd);
  expect(r.bodies.at(-1)!.event).toBe(AUDIT_EVENTS.integrityCheckpoint);
}

const of = (r: CaseRun, event: string) => r.bodies.filter((b) => b.event === event);
const errorTypes = (r: CaseRun) => r.errors.map((e) => e.data.type as string);
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * The output parts of the one executed block: every part's text within maxContentBytes, the parts' byte
 * counts adding up to the final part's total_bytes. Returns the final part's data.
 */
function outputParts(r: CaseRun) {
  const parts = of(r, AUDIT_EVENTS.commandOutput).filter((b) => b.data.kind === 'console');
  expect(parts.length).toBeGreaterThan(0);
  expect(parts.map((p) => p.data.part)).toEqual(parts.map((_, i) => i));
  for (const p of parts) {
    expect(Buffer.byteLength(p.data.output.text as string)).toBeLessThanOrEqual(MAX_CONTENT_BYTES);
    // Recorded text is escaped: no raw C0 control character other than TAB and LF reaches a body.
    expect(p.data.output.text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
  }
  const final = parts.at(-1)!.data;
  expect(final.final).toBe(true);
  expect(parts.reduce((n, p) => n + (p.data.output.bytes as number), 0)).toBe(final.total_bytes);
  return { parts, final };
}

/** What Open Interpreter adds around a one-line shell block: a blank output for each active-line marker. */
const shellFraming = (out: string) => `\n\n${out}\n`;

describe('bad input from the real Open Interpreter 0.4.3', () => {
  it('50 MB of output from one command: parts capped at maxContentBytes, total_bytes and total_sha256 cover all of it', async () => {
    // 50 writes of 1 MiB (16 384 lines of 64 bytes), flushed each time. exec() keeps Open Interpreter from
    // inserting an active-line print into the loop body.
    const code = String.raw`import sys
block = ''.join('%07d %s\n' % (i, 'x' * 55) for i in range(16384))
exec('for _ in range(50):\n    sys.stdout.write(block); sys.stdout.flush()')`;
    const r = await runCase('50 MB of output (python)', 'Print fifty megabytes.', [reply('python', code), 'Done.']);
    expect(r.result).toMatchObject({ outcome: 'complete', executed: 1 });
    let block = '';
    for (let i = 0; i < 16384; i++) block += `${String(i).padStart(7, '0')} ${'x'.repeat(55)}\n`;
    const expected = createHash('sha256');
    for (let i = 0; i < 50; i++) expected.update(block);
    const { parts, final } = outputParts(r);
    expect(final.total_bytes).toBe(50 * MiB);
    expect(final.total_sha256).toBe(expected.digest('hex'));
    // Parts follow the output as it streams (one per 1 MiB write here), each recorded truncated.
    expect(parts.length).toBeGreaterThanOrEqual(50);
    for (const p of parts.filter((x) => x.data.output.bytes > MAX_CONTENT_BYTES)) expect(p.data.output.truncated).toBe(true);
    const span = of(r, AUDIT_EVENTS.commandExecuted);
    expect(span).toHaveLength(1);
    expect(errorTypes(r)).toEqual([]);
    row(r, `command.output ×${parts.length}, text ≤ 8 KiB each; final total_bytes ${final.total_bytes}, total_sha256 = expected`);
    expectVerifiedTrail(r);
    // The audit holds bounded windows of the output, never all of it: growth well under the output's size x 8.
    expect(r.rss.growthMb).toBeLessThan(400);
  }, 300_000);

  it('binary output written to fd 1 (1 MiB of every byte value): decoded with replacement, escaped, hashed exactly', async () => {
    const code = String.raw`import os
blk = bytes(range(256)) * 256
n = sum(os.write(1, blk) for _ in range(16))`;
    const r = await runCase('binary output (python os.write)', 'Write binary bytes.', [reply('python', code), 'Done.']);
    expect(r.result).toMatchObject({ outcome: 'complete', executed: 1 });
    // ipykernel decodes captured fd output with errors="replace": bytes 0x80-0xFF are each one U+FFFD here.
    const decodedBlock = String.fromCharCode(...Array.from({ length: 128 }, (_, i) => i)) + '\ufffd'.repeat(128);
    const expected = decodedBlock.repeat(4096);
    const { final, parts } = outputParts(r);
    expect(final.total_bytes).toBe(Buffer.byteLength(expected));
    expect(final.total_sha256).toBe(sha256(expected));
    // NUL, ESC, DEL… are in the record as visible escapes.
    expect(parts[0]!.data.output.text).toContain('\\u{0000}\\u{0001}');
    expect(parts[0]!.data.output.text).toContain('\\u{001b}');
    expect(errorTypes(r)).toEqual([]);
    row(r, `command.output ×${parts.length}; total_bytes ${final.total_bytes}, total_sha256 = expected (U+FFFD-decoded)`);
    expectVerifiedTrail(r);
    expect(r.rss.growthMb).toBeLessThan(200);
  }, 180_000);

  it('1 MiB written to fd 2 (stderr) by Python: all of it recorded, hashed exactly', async () => {
    const code = String.raw`import os
blk = b'e' * 1023 + b'\n'
n = sum(os.write(2, blk) for _ in range(1024))`;
    const r = await runCase('stderr burst (python os.write 2)', 'Write to stderr.', [reply('python', code), 'Done.']);
    expect(r.result).toMatchObject({ outcome: 'complete', executed: 1 });
    const expected = `${'e'.repeat(1023)}\n`.repeat(1024);
    const { final } = outputParts(r);
    expect(final.total_bytes).toBe(MiB);
    expect(final.total_sha256).toBe(sha256(expected));
    row(r, `stderr: total_bytes ${final.total_bytes}, total_sha256 = expected`);
    expectVerifiedTrail(r);
  }, 180_000);

  it('a child process writes 1 MiB and exits as the block ends: the tail still in the pipe is recorded', async () => {
    // The child inherits the kernel's captured fd 1; run() returns the moment it exits, with up to a pipe's
    // worth of its output not yet read by the kernel.
    const code = String.raw`import subprocess
r = subprocess.run("head -c 1048576 /dev/zero | tr '\\0' c", shell=True)`;
    const r = await runCase('output right before exit (child process)', 'Run a child that writes.', [reply('python', code), 'Done.']);
    expect(r.result).toMatchObject({ outcome: 'complete', executed: 1 });
    const { final } = outputParts(r);
    expect(final.total_bytes).toBe(MiB);
    expect(final.total_sha256).toBe(sha256('c'.repeat(MiB)));
    row(r, `child output before exit: total_bytes ${final.total_bytes}, total_sha256 = expected`);
    expectVerifiedTrail(r);
  }, 180_000);

  it('20 000 lines on stderr from a shell command: every byte counted', async () => {
    const n = 20_000;
    const r = await runCase('stderr lines (shell)', 'Write lines to stderr.', [reply('shell', `seq 1 ${n} | sed 's/$/ on stderr/' >&2`), 'Done.']);
    expect(r.result).toMatchObject({ outcome: 'complete', executed: 1 });
    let lines = 0;
    for (let i = 1; i <= n; i++) lines += Buffer.byteLength(`${i} on stderr\n`);
    const { final } = outputParts(r);
    // stdout carries only Open Interpreter's framing (two blank active-line outputs and a newline), interleaved
    // with stderr in arrival order: the byte count is exact, the order is not fixed.
    expect(final.total_bytes).toBe(lines + shellFraming('').length);
    row(r, `shell stderr: total_bytes ${final.total_bytes} = ${lines} + framing`);
    expectVerifiedTrail(r);
  }, 180_000);

  it('binary output from a shell command (1 MiB of /dev/urandom): every decoded byte counted, parts consistent', async () => {
    const r = await runCase('binary output (shell urandom)', 'Dump random bytes.', [reply('shell', 'head -c 1048576 /dev/urandom'), 'Done.']);
    expect(r.result).toMatchObject({ outcome: 'complete', executed: 1 });
    const { final } = outputParts(r);
    // Random bytes decode to more UTF-8 than they were (U+FFFD is 3 bytes); CR/LF translation removes a few.
    expect(final.total_bytes).toBeGreaterThan(MiB);
    expect(final.total_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(r.chunks.output).toBeGreaterThan(1000); // the shell reader sends one frame per line
    row(r, `command.output, ${r.chunks.output} frames; total_bytes ${final.total_bytes} (= sum of parts)`);
    expectVerifiedTrail(r);
    expect(r.rss.growthMb).toBeLessThan(200);
  }, 180_000);

  it('invalid UTF-8 (overlong, surrogate, truncated sequences): recorded as U+FFFD, hash of exactly what arrived', async () => {
    const bytes = Buffer.from([0x6f, 0x6b, 0x20, 0xff, 0x20, 0xc3, 0x28, 0x20, 0xed, 0xa0, 0x80, 0x20, 0xf0, 0x28, 0x8c, 0x28, 0x20, 0xc0, 0xaf, 0x20, 0xe2, 0x82, 0x20, 0x65, 0x6e, 0x64]);
    const literal = [...bytes].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
    const code = `import os\nn = os.write(1, b'${literal}')`;
    const r = await runCase('invalid UTF-8 (python os.write)', 'Write invalid UTF-8.', [reply('python', code), 'Done.']);
    expect(r.result).toMatchObject({ outcome: 'complete', executed: 1 });
    // Python's errors="replace" and the WHATWG decoder both substitute maximal subparts.
    const expected = new TextDecoder().decode(bytes);
    const { final, parts } = outputParts(r);
    expect(parts[0]!.data.output.text).toBe(expected);
    expect(final.total_bytes).toBe(Buffer.byteLength(expected));
    expect(final.total_sha256).toBe(sha256(expected));
    expect(errorTypes(r)).toEqual([]);
    row(r, `command.output: text = WHATWG-decoded bytes; total_sha256 = expected`);
    expectVerifiedTrail(r);
    expect(r.rss.growthMb).toBeLessThan(200);
  }, 180_000);

  it('a flood of tiny chunks (100 000 one-line frames from seq): every byte counted and hashed, a handful of parts', async () => {
    const n = 100_000;
    const r = await runCase('100k tiny chunks (shell seq)', 'Count to a hundred thousand.', [reply('shell', `seq 1 ${n}`), 'Done.']);
    expect(r.result).toMatchObject({ outcome: 'complete', executed: 1 });
    expect(r.chunks.output).toBeGreaterThanOrEqual(n);
    let seq = '';
    for (let i = 1; i <= n; i++) seq += `${i}\n`;
    const expected = shellFraming(seq);
    const { parts, final } = outputParts(r);
    expect(final.total_bytes).toBe(Buffer.byteLength(expected));
    expect(final.total_sha256).toBe(sha256(expected));
    // 100 000 frames, ~590 KB: recorded in outputPartBytes (64 KiB) parts, not one record per frame.
    expect(parts.length).toBeLessThan(20);
    expect(errorTypes(r)).toEqual([]);
    row(r, `command.output ×${parts.length} for ${r.chunks.output} frames; total_bytes ${final.total_bytes}, total_sha256 = expected`);
    expectVerifiedTrail(r);
    expect(r.rss.growthMb).toBeLessThan(200);
  }, 180_000);

  it('deeply nested JSON in the user message and in the reply: recorded by hash; the code parsing it fails as an execution_error', async () => {
    const depth = 5000;
    const nested = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const user = `Parse this JSON: ${nested}`;
    const prose = `Here it is back: ${nested}`;
    const r = await runCase('deeply nested JSON (user + reply + code)', user, [reply('python', `import json\nd = json.loads('${nested}')`, prose), 'It was too deep.']);
    expect(r.result).toMatchObject({ outcome: 'complete', executed: 1 });
    const input = of(r, AUDIT_EVENTS.userInput)[0]!.data.input;
    expect(input).toMatchObject({ bytes: Buffer.byteLength(user), sha256: sha256(user), truncated: true });
    const said = of(r, AUDIT_EVENTS.assistantMessage)[0]!.data.content;
    // The prose as Open Interpreter relayed it: up to the fence, with the blank line before it.
    expect(said).toMatchObject({ bytes: Buffer.byteLength(`${prose}\n\n`), sha256: sha256(`${prose}\n\n`), truncated: true });
    // The user's words reached the model: the request's recorded messages (a JSON string) hold them.
    expect(of(r, AUDIT_EVENTS.llmRequest)[0]!.data.messages.bytes).toBeGreaterThan(Buffer.byteLength(user));
    // json.loads hits Python's recursion limit: a RecursionError traceback, flagged from the output.
    expect(errorTypes(r)).toEqual(['execution_error']);
    const { final } = outputParts(r);
    expect(final.total_bytes).toBeGreaterThan(0);
    expect(of(r, AUDIT_EVENTS.commandOutput).map((b) => b.data.output.text).join('')).toContain('RecursionError');
    row(r, 'user.input + assistant.message by sha256 (truncated); RecursionError output');
    expectVerifiedTrail(r);
    expect(r.rss.growthMb).toBeLessThan(200);
  }, 180_000);
});

describe('a hostile scripted model', () => {
  it('a 4 MiB reply of ANSI escapes, bidi overrides and CRs: recorded truncated and escaped, with the hash of all of it', async () => {
    const bytes = 4 * MiB;
    // chunkSize: 4 KiB deltas. The scripted model runs in this process and builds every event of the reply up
    // front (splitting it into code points first): most of the growth measured here is the model's own
    // (a 4 MiB hugeReply streamed to a plain HTTP client costs it ~100 MB), not the audit's.
    const r = await runCase('hostile model: 4 MiB reply', 'Say something huge.', ['Hi.'], { faults: { hugeReply: { bytes } }, model: { chunkSize: 4096 } });
    expect(r.result.outcome).toBe('complete');
    expect(r.model.served[0]!.fault).toBe('hugeReply');
    const response = of(r, AUDIT_EVENTS.llmResponse)[0]!.data.content;
    const said = of(r, AUDIT_EVENTS.assistantMessage)[0]!.data.content;
    expect(response.bytes).toBeGreaterThanOrEqual(bytes);
    expect(response.truncated).toBe(true);
    // What Open Interpreter showed the user is exactly what the model sent.
    expect(said).toMatchObject({ bytes: response.bytes, sha256: response.sha256, truncated: true });
    for (const c of [response, said]) {
      expect(Buffer.byteLength(c.text as string)).toBeLessThanOrEqual(MAX_CONTENT_BYTES);
      expect(c.text).not.toMatch(/[\u001b\u202e\r]/);
      expect(c.text).toContain('\\u{001b}[31mHOSTILE');
      expect(c.text).toContain('\\u{202e}');
    }
    expect(errorTypes(r)).toEqual([]);
    row(r, `llm.response + assistant.message: ${response.bytes} bytes by sha256, text truncated and escaped`);
    expectVerifiedTrail(r);
    expect(r.rss.growthMb).toBeLessThan(400);
  }, 300_000);

  it('a malformed SSE event mid-stream: upstream_malformed_sse on every attempt, Open Interpreter\'s failure as server_error', async () => {
    const r = await runCase('hostile model: malformed SSE', 'Say something broken.', ['This reply has a malformed event in it.'], { faults: { malformedSse: { afterChunks: 2 } } });
    expect(r.result.outcome).toBe('error');
    const types = errorTypes(r);
    // litellm gives up on the stream (and retries it); each attempt is its own generation with its own error.
    const attempts = of(r, AUDIT_EVENTS.llmRequest).length;
    expect(attempts).toBeGreaterThanOrEqual(1);
    expect(types.filter((t) => t === 'upstream_malformed_sse')).toHaveLength(attempts);
    expect(r.errors.find((e) => e.data.type === 'upstream_malformed_sse')!.data.message.text).toBe('1 SSE data event(s) were not JSON');
    expect(types).toContain('server_error');
    // The exception cut Open Interpreter's message stream: no end frame before complete. The part shown is recorded.
    expect(r.errors.find((e) => e.data.type === 'out_of_order_chunk')!.data.message.text).toBe('complete status while assistant/message was open (no end frame)');
    expect(of(r, AUDIT_EVENTS.assistantMessage).length).toBeGreaterThanOrEqual(1);
    expect(r.errors.find((e) => e.data.type === 'server_error')!.data.message.text).toMatch(/litellm|JSONDecodeError|Expecting/);
    expect(r.model.served.every((s) => s.fault === 'malformedSse')).toBe(true);
    row(r, `${attempts} LLM attempt(s), each upstream_malformed_sse; server_error (litellm traceback); partial message`);
    expectVerifiedTrail(r);
    expect(r.rss.growthMb).toBeLessThan(200);
  }, 180_000);
});
