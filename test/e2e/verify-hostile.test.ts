import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalize } from '../../src/record/canonical-json.js';
import { SessionChain } from '../../src/integrity/chain.js';
import { loadIntegrityKeys } from '../../src/keys/integrity-keys.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { CLI, run } from '../helpers/cli.js';
import { forge, parseBody, realTrail, type Body } from '../helpers/forger.js';

/**
 * The real CLI (dist/) on hostile files (issue #12 item 4, #21 item 2): each case ends with the
 * stated exit code and a bounded peak RSS (the child reports its own maxRSS at exit). No timing
 * assertions. Also: every control class through view and export reaches stdout escaped.
 */
let dir: string;
const trail = realTrail();
const MB = 1024;

const otlpLine = (body: string, session = trail.session) =>
  JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: body }, attributes: [{ key: 'session.id', value: { stringValue: session } }] }] }] }] });
const write = (name: string, bodies: string[]) => {
  const path = join(dir, name);
  writeFileSync(path, `${bodies.map((b) => otlpLine(b)).join('\n')}\n`);
  return path;
};

/** Run the CLI in a child that prints its peak RSS (KiB) on exit. */
async function cli(args: string[]) {
  const probe = join(dir, 'rss-probe.mjs');
  const res = await run(process.execPath, ['--import', probe, CLI, ...args], { env: { ...process.env, NO_COLOR: '1' } });
  const m = /OI_AUDIT_MAXRSS (\d+)/.exec(res.stderr);
  expect(m, `child reported its RSS; stderr: ${res.stderr.slice(0, 400)}`).not.toBeNull();
  return { ...res, maxRssKiB: Number(m![1]) };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'oia-hostile-'));
  writeFileSync(join(dir, 'rss-probe.mjs'), "process.on('exit', () => process.stderr.write(`\\nOI_AUDIT_MAXRSS ${process.resourceUsage().maxRSS}\\n`));\n");
  writeFileSync(join(dir, 'mac-seed'), trail.seed.toString('hex'));
  writeFileSync(join(dir, 'pub'), trail.publicKey);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const keyArgs = () => ['--key', join(dir, 'mac-seed'), '--public-key', join(dir, 'pub')];
const canon = (o: Body) => canonicalize(o);

describe('verify on hostile input: bounded, with a clear verdict', () => {
  it('the untouched trail: exit 0 under both keys', async () => {
    const res = await cli(['verify', write('ok.jsonl', trail.bodies), ...keyArgs()]);
    expect(res.code, res.stdout).toBe(0);
  });

  it('a checkpoint claiming 2^53 - 1 records: reported, not walked (exit 1)', async () => {
    const f = forge(trail);
    const cp = f.objs.find((o) => o.event === AUDIT_EVENTS.integrityCheckpoint)!;
    const seq = Number.MAX_SAFE_INTEGER;
    Object.assign(cp, { seq });
    Object.assign(cp.data, { from_seq: 0, to_seq: seq - 1, count: seq, epoch: seq });
    const res = await cli(['verify', write('cp53.jsonl', f.objs.map(canon)), ...keyArgs()]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/unverifiable_checkpoint|limit/);
    expect(res.maxRssKiB).toBeLessThan(400 * MB);
  });

  it('a record at seq 49,999,999: the MAC ratchet is not walked that far (exit 1, limit)', async () => {
    const extra = { ...parseBody(trail.bodies[3]!), seq: 49_999_999 };
    const res = await cli(['verify', write('seq50m.jsonl', [...trail.bodies, canon(extra)]), ...keyArgs()]);
    expect(res.code).toBe(1);
    expect(res.stdout).toContain('limit');
    expect(res.maxRssKiB).toBeLessThan(400 * MB);
  });

  it('a session start naming seed index 10^7: refused as bad_commitment (exit 1)', async () => {
    const f = forge(trail).edit(0, (o) => ((o.data.integrity as Record<string, unknown>).mac_seed_index = 10_000_000));
    const res = await cli(['verify', write('seed.jsonl', f.objs.map(canon)), ...keyArgs()]);
    expect(res.code).toBe(1);
    expect(res.stdout).toContain('bad_commitment');
  });

  it('100,000-deep nesting, in a line and in a body: exit 2 with a message, no stack overflow', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const a = join(dir, 'deep-line.jsonl');
    writeFileSync(a, `{"resourceLogs":${deep}}\n`);
    const b = join(dir, 'deep-body.jsonl');
    writeFileSync(b, `${otlpLine(`{"data":${deep}}`)}\n`);
    for (const path of [a, b]) {
      const res = await cli(['verify', path, ...keyArgs()]);
      expect(res.code, res.stderr).toBe(2);
      expect(res.stderr).toMatch(/nests deeper than \d+ levels/);
      expect(res.stderr).not.toMatch(/Maximum call stack/);
    }
  });

  it('a 200 MB line: refused at the line limit without loading it whole (exit 2, bounded RSS)', async () => {
    const path = join(dir, 'long.jsonl');
    const chunk = 'a'.repeat(1024 * 1024);
    await pipeline(Readable.from((function* () { for (let i = 0; i < 200; i++) yield chunk; })()), createWriteStream(path));
    const res = await cli(['verify', path, ...keyArgs()]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/line longer than \d+ MiB/);
    expect(res.maxRssKiB).toBeLessThan(400 * MB);
  });

  it('a gzip bomb (600 MiB of zeros in ~0.6 MB): refused at the decompression cap (exit 2, bounded RSS)', async () => {
    const path = join(dir, 'bomb.jsonl.gz');
    const zeros = Buffer.alloc(1024 * 1024);
    await pipeline(Readable.from((function* () { for (let i = 0; i < 600; i++) yield zeros; })()), createGzip({ level: 9 }), createWriteStream(path));
    const res = await cli(['verify', path, ...keyArgs()]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/decompresses to more than \d+ MiB/);
    expect(res.maxRssKiB).toBeLessThan(900 * MB);
  });

  it('--help states the bounds', async () => {
    const res = await cli(['verify', '--help']);
    expect(res.stdout).toMatch(/Bounds on hostile input/);
    expect(res.stdout).toMatch(/--allow-unauthenticated/);
  });
});

describe('stores that do not keep order', () => {
  it('a Loki query_range answer, one stream per record, equal timestamps, any order: exit 0 without --allow-reorder', async () => {
    const shuffled = [...trail.bodies].map((b, i) => ({ b, k: (i * 7919) % 13 })).sort((x, y) => x.k - y.k).map((x) => x.b);
    const result = shuffled.map((line, i) => ({ stream: { service_name: 'oi-audit', session_id: trail.session, n: String(i) }, values: [['1767225600000000000', line]] }));
    const path = join(dir, 'loki.json');
    writeFileSync(path, JSON.stringify({ status: 'success', data: { resultType: 'streams', result } }));
    const res = await cli(['verify', path, ...keyArgs()]);
    expect(res.code, res.stdout).toBe(0);
  });

  it('the same records out of order in one ordered file still fail (reordered)', async () => {
    const swapped = [...trail.bodies];
    [swapped[3], swapped[4]] = [swapped[4]!, swapped[3]!];
    const res = await cli(['verify', write('swapped.jsonl', swapped), ...keyArgs()]);
    expect(res.code).toBe(1);
    expect(res.stdout).toContain('reordered');
  });
});

describe('view and export escape everything they print', () => {
  const HOSTILE = [
    '\x1b]52;c;cm0gLXJmIH4=\x07', // OSC 52: write the clipboard
    '\x1b[2J\x1b[H', // CSI: clear the screen
    '\x9b31m\x9d0;title\x9c', // C1 CSI / OSC / ST
    '\x85\x7f\x08\x07\r\x00\x0b\x0c', // NEL, DEL, BS, BEL, CR, NUL, VT, FF
    '\u202eevil\u202c\u2066x\u2069\u200f', // bidi overrides and isolates
    '\u200b\u2028\u2029\ufeff', // zero-width, line/paragraph separators, BOM
  ].join(' | ');
  const RAW = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/u;

  it('a crafted trail with every control class: no raw control byte on stdout from view, export ecs, export ocsf', async () => {
    const keys = loadIntegrityKeys({ env: {}, macSeed: Buffer.alloc(32, 7) });
    const session = `sess\x1b[31m${'\u202e'}x`;
    const chain = new SessionChain({ sessionId: session, keys });
    let t = Date.UTC(2026, 0, 1);
    const ctx = () => ({ ts: new Date((t += 1000)).toISOString(), traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8) });
    const text = { mode: 'full', text: HOSTILE, bytes: 1, sha256: 'ee'.repeat(32) };
    const bodies = [
      chain.seal(AUDIT_EVENTS.sessionStart, { integrity: chain.sessionStartData(), user: HOSTILE, model: HOSTILE, policy: HOSTILE }, ctx()),
      chain.seal(AUDIT_EVENTS.userInput, { turn: 0, input: text, risk: HOSTILE, rules: [HOSTILE] }, ctx()),
      chain.seal(AUDIT_EVENTS.assistantMessage, { turn: 0, content: text }, ctx()),
      chain.seal(AUDIT_EVENTS.codeGenerated, { turn: 0, index: 0, language: HOSTILE, code: text, risk: 'high', rules: [HOSTILE] }, ctx()),
      chain.seal(AUDIT_EVENTS.approvalDecision, { turn: 0, index: 0, decision: HOSTILE, decider: HOSTILE, reason: HOSTILE }, ctx()),
      chain.seal(AUDIT_EVENTS.commandExecuted, { turn: 0, index: 0, code: text }, ctx()),
      chain.seal(AUDIT_EVENTS.commandOutput, { turn: 0, index: 0, kind: 'console', final: true, output: text, risk: HOSTILE, rules: [HOSTILE] }, ctx()),
      chain.seal(AUDIT_EVENTS.settingsRefused, { setting: HOSTILE, reason: HOSTILE }, ctx()),
      chain.seal(AUDIT_EVENTS.error, { source: HOSTILE, type: HOSTILE, message: text }, ctx()),
      chain.seal(AUDIT_EVENTS.auditLoss, { lost: 1, reason: HOSTILE }, ctx()),
      chain.seal(AUDIT_EVENTS.sessionEnd, { outcome: HOSTILE }, ctx()),
    ].map((s) => s.body);
    const path = join(dir, 'hostile.jsonl');
    writeFileSync(path, `${bodies.map((b) => otlpLine(b, session)).join('\n')}\n`);
    for (const args of [['view', path], ['view', '--json', path], ['export', path, '--format', 'ecs'], ['export', path, '--format', 'ocsf'], ['verify', path]]) {
      const res = await cli(args);
      expect(res.code, `${args.join(' ')}: ${res.stderr.slice(0, 300)}`).toBeLessThan(2);
      expect(res.stdout.length, args.join(' ')).toBeGreaterThan(100);
      const m = RAW.exec(res.stdout);
      expect(m ? `raw U+${m[0].codePointAt(0)!.toString(16)} at ${m.index}: ${JSON.stringify(res.stdout.slice(Math.max(0, m.index - 40), m.index + 10))}` : null, args.join(' ')).toBeNull();
    }
    // The SIEM copy still carries the body byte for byte (escaped in JSON, equal once parsed).
    const ecs = await cli(['export', path, '--format', 'ecs']);
    const lines = ecs.stdout.trim().split('\n').map((l) => JSON.stringify(JSON.parse(l)));
    expect(lines.some((l) => bodies.some((b) => l.includes(JSON.stringify(b).slice(1, -1).slice(0, 200))))).toBe(true);
  });
});
