import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { describe, expect, it } from 'vitest';
import { canonicalize, type JsonObject, type JsonValue } from '../../src/record/canonical-json.js';
import { decodeRecord, isCanonicalBody } from '../../src/record/decode.js';
import { isObject } from '../../src/record/json-shape.js';
import {
  decodeLostRanges,
  encodeLostRanges,
  expandLostRanges,
  lostRangeChunks,
  MAX_LOST_PER_DECLARATION,
  type LostBody,
} from '../../src/record/loss-ranges.js';
import { SessionChain } from '../../src/integrity/chain.js';
import { GENESIS_HASH, sha256Hex } from '../../src/integrity/hash.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { verifySessions } from '../../src/verify/verify.js';
import { applyRetentionEvidence } from '../../src/verify/retention.js';
import type { SessionReport } from '../../src/verify/types.js';
import { parseEvents } from '../../src/read/sessions.js';
import type { LogEntry } from '../../src/read/otlp-files.js';
import { BodyError, parseBody } from '../../src/siem/body.js';
import { identifyLogRecord, lossDeclarer } from '../../src/otel/loss-declaration.js';

const ctx = { ts: '2026-12-02T23:00:00.000Z', traceId: 'a'.repeat(32), spanId: 'b'.repeat(16) };

/** Bodies written by the real writer: a chain of three events and a checkpoint. */
function sealed() {
  const chain = new SessionChain({ sessionId: 'sess-decode' });
  const start = chain.seal(AUDIT_EVENTS.sessionStart, chain.sessionStartData(), ctx);
  const input = chain.seal(AUDIT_EVENTS.userInput, { turn: 0, input: { mode: 'full', text: 'ls ☃ \u{1f600}' } }, ctx);
  const cp = chain.sealCheckpoint('interval', ctx);
  return { chain, start, input, cp };
}

const obj = (body: string) => JSON.parse(body) as JsonObject;
const logEntry = (body: string): LogEntry => ({
  source: { file: 'mem', line: 1 },
  body,
  attributes: {},
  resource: {},
  traceId: '',
  spanId: '',
  timeUnixNano: '0',
  severityText: '',
});

describe('decodeRecord: the writer’s output', () => {
  it('decodes every sealed body to the fields the chain wrote, canonical as written', () => {
    const { chain, start, input, cp } = sealed();
    let prev = GENESIS_HASH;
    for (const s of [start, input, cp]) {
      const d = decodeRecord(s.body);
      if (!d.ok) throw new Error(d.reason);
      expect(d.record).toMatchObject({ v: 1, session: chain.sessionId, seq: s.seq, prev, ts: ctx.ts, event: s.event, trace_id: ctx.traceId, span_id: ctx.spanId });
      expect(d.record.mac).toMatch(/^[0-9a-f]{64}$/);
      expect(isCanonicalBody(d.record, s.body)).toBe(true);
      prev = s.hash;
    }
    const d = decodeRecord(input.body);
    expect(d.ok && d.record.data).toEqual({ turn: 0, input: { mode: 'full', text: 'ls ☃ \u{1f600}' } });
  });

  it('a body re-ordered or re-spaced still decodes, but is not canonical', () => {
    const { input } = sealed();
    const o = obj(input.body);
    const spaced = JSON.stringify(o, null, 1);
    const reordered = JSON.stringify({ v: o.v, ...o });
    for (const text of [spaced, reordered]) {
      const d = decodeRecord(text);
      expect(d.ok).toBe(true);
      expect(d.ok && isCanonicalBody(d.record, text)).toBe(false);
    }
  });
});

describe('decodeRecord: one reason per malformed field, the same in verify, siem and read', () => {
  const base = () => obj(sealed().input.body);
  const without = (k: string) => {
    const o = base();
    Reflect.deleteProperty(o, k);
    return canonicalize(o);
  };
  const withField = (k: string, v: JsonValue) => canonicalize({ ...base(), [k]: v });
  const cases: Array<[string, string, RegExp, boolean]> = [
    ['not JSON', '{"v":1,', /^body is not JSON \(/, false],
    ['an array', '[1,2]', /^body is not a JSON object$/, false],
    ['null', 'null', /^body is not a JSON object$/, false],
    ['no session', without('session'), /^body lacks session$/, false],
    ['an empty session', withField('session', ''), /^body lacks session$/, false],
    ['a numeric session', withField('session', 7), /^body lacks session$/, false],
    ['an unknown event', withField('event', 'oi_audit.nope'), /^unknown audit event "oi_audit.nope"$/, true],
    ['no event', without('event'), /^unknown audit event undefined$/, true],
    ['an inherited name as event', withField('event', 'constructor'), /^unknown audit event "constructor"$/, true],
    ['version 2', withField('v', 2), /^unknown body version 2$/, true],
    ['no version', without('v'), /^unknown body version undefined$/, true],
    ['a negative seq', withField('seq', -1), /^seq is not a non-negative integer$/, true],
    ['a fractional seq', withField('seq', 1.5), /^seq is not a non-negative integer$/, true],
    ['a string seq', withField('seq', '1'), /^seq is not a non-negative integer$/, true],
    ['an unsafe seq', withField('seq', 2 ** 53), /^seq is not a non-negative integer$/, true],
    ['a short prev', withField('prev', 'abc'), /^prev is not a SHA-256 hex digest$/, true],
    ['an upper-case prev', withField('prev', 'A'.repeat(64)), /^prev is not a SHA-256 hex digest$/, true],
    ['a numeric ts', withField('ts', 5), /^ts is not a string$/, true],
    ['no trace_id', without('trace_id'), /^trace_id\/span_id missing$/, true],
    ['a numeric span_id', withField('span_id', 3), /^trace_id\/span_id missing$/, true],
    ['data an array', withField('data', []), /^data is not an object$/, true],
    ['data null', withField('data', null), /^data is not an object$/, true],
    ['a non-hex mac', withField('mac', 'z'.repeat(64)), /^mac is neither null nor a hex HMAC$/, true],
    ['no mac', without('mac'), /^mac is neither null nor a hex HMAC$/, true],
  ];

  it.each(cases)('%s', (_name, text, reason, namesSession) => {
    const d = decodeRecord(text);
    expect(d.ok).toBe(false);
    if (d.ok) return;
    expect(d.reason).toMatch(reason);
    expect(d.session).toBe(namesSession ? 'sess-decode' : undefined);

    // verify: a malformed record, with the decoder's reason, filed under the body's session.
    const [report] = verifySessions([{ body: text, source: { file: 'f.jsonl', line: 3 } }]);
    const problem = report!.problems.find((p) => p.code === 'malformed');
    expect(problem?.message).toBe(`${d.reason} (f.jsonl:3)`);
    expect(report!.session).toBe(namesSession ? 'sess-decode' : '(unparsed)');
    // siem: a BodyError carrying the reason.
    expect(() => parseBody(text)).toThrow(BodyError);
    expect(() => parseBody(text)).toThrow(d.reason);
    // read: skipped and counted, never shown.
    expect(parseEvents({ logs: [logEntry(text)], spans: [], files: [] })).toEqual({ events: [], skipped: 1 });
  });
});

describe('decodeRecord: hostile bodies give a reason or a record, never a throw', () => {
  it('nesting a million deep, at the top or inside data', () => {
    const deep = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
    const top = decodeRecord(deep);
    expect(top.ok).toBe(false);
    const o = obj(sealed().input.body);
    const text = canonicalize(o).replace('"data":{', `"data":{"x":${deep},`);
    const inside = decodeRecord(text);
    // Shape is fine; canonicalisation refuses (the stack), which is "not canonical", not a crash.
    expect(inside.ok).toBe(true);
    expect(inside.ok && isCanonicalBody(inside.record, text)).toBe(false);
    expect(() => verifySessions([{ body: text }])).not.toThrow();
  });

  it('numbers beyond every range', () => {
    const o = obj(sealed().input.body);
    for (const n of ['1e400', '-1e400', '9007199254740993', '1'.repeat(5000)]) {
      const d = decodeRecord(canonicalize(o).replace(/"seq":\d+/, `"seq":${n}`));
      expect(d.ok || d.reason).toBe('seq is not a non-negative integer');
    }
    const huge = decodeRecord(canonicalize(o).replace('"data":{', `"data":{"n":1e400,`));
    expect(huge.ok).toBe(true);
  });

  it('a lone surrogate in data: decoded, not canonical, no throw', () => {
    const text = canonicalize(obj(sealed().input.body)).replace('"data":{', '"data":{"s":"\\ud800",');
    const d = decodeRecord(text);
    expect(d.ok).toBe(true);
    expect(d.ok && isCanonicalBody(d.record, text)).toBe(false);
  });

  it('a __proto__ key does not lend the body a session or any other field', () => {
    const o = obj(sealed().input.body);
    Reflect.deleteProperty(o, 'session');
    const text = canonicalize(o).replace('{', '{"__proto__":{"session":"sess-decode"},');
    const d = decodeRecord(text);
    expect(d.ok || d.reason).toBe('body lacks session');
  });

  it('an event name a hundred kilobytes long is cut in the reason', () => {
    const d = decodeRecord(canonicalize({ ...obj(sealed().input.body), event: 'x'.repeat(100_000) }));
    expect(d.ok).toBe(false);
    expect(!d.ok && d.reason.length).toBeLessThan(120);
  });
});

describe('isObject', () => {
  it('is true for plain objects only', () => {
    expect([{}, { a: 1 }, Object.create(null) as object].map(isObject)).toEqual([true, true, true]);
    expect([null, [], 'x', 1, true, undefined].map(isObject)).toEqual([false, false, false, false, false, false]);
  });
});

describe('loss ranges: writer → reader', () => {
  /** n lost records starting at seq `from`, chained as the writer chains them. */
  const lostRun = (from: number, n: number): LostBody[] => {
    const out: LostBody[] = [];
    let prev = from === 0 ? GENESIS_HASH : sha256Hex(`body ${from - 1}`);
    for (let s = from; s < from + n; s++) {
      const hash = sha256Hex(`body ${s}`);
      out.push({ seq: s, hash, prev });
      prev = hash;
    }
    return out;
  };

  it('what the writer encodes, the reader decodes to the same ranges and records', () => {
    const lost = [...lostRun(3, 4), ...lostRun(10, 1), ...lostRun(0, 2)];
    const [ranges, ...more] = lostRangeChunks(lost);
    expect(more).toEqual([]);
    const data = JSON.parse(canonicalize({ lost: 7, reason: 'queue_full', ...encodeLostRanges(ranges!) })) as JsonObject;
    const decoded = decodeLostRanges(data, 20, { v1: false });
    expect(decoded).toEqual({ kind: 'v2', ranges });
    expect('ranges' in decoded && expandLostRanges(decoded.ranges)).toEqual([...lost].sort((a, b) => a.seq - b.seq));
  });

  it('a loss larger than one declaration is split so every part decodes within the bound', () => {
    const lost = lostRun(1, MAX_LOST_PER_DECLARATION * 2 + 5);
    const chunks = lostRangeChunks(lost);
    expect(chunks).toHaveLength(3);
    const back = chunks.flatMap((c) => {
      const d = decodeLostRanges(encodeLostRanges(c), 100_000, { v1: false });
      if (!('ranges' in d)) throw new Error(d.invalid);
      return expandLostRanges(d.ranges);
    });
    expect(back).toEqual(lost);
    // One over the bound is refused by the reader.
    const [tooMany] = lostRangeChunks(lost, MAX_LOST_PER_DECLARATION + 1);
    expect(decodeLostRanges(encodeLostRanges(tooMany!), 100_000, { v1: false })).toMatchObject({ kind: 'v2', invalid: /more than 1024 hashes/ });
  });

  it('the real declarer’s loss event, read back by the queue’s identifier, carries what it declared', () => {
    const lost = lostRun(2, 3);
    const recorded: JsonObject[] = [];
    const declare = lossDeclarer({ activeSessions: [{ id: 's', recordLoss: (n, reason, extra = {}) => recorded.push({ lost: n, reason, ...extra }) }] });
    declare({ reason: 'queue_full', bySession: new Map([['s', { count: 3, seqs: [2, 3, 4], records: lost }]]) });
    expect(recorded).toHaveLength(1);
    // Seal it as the recorder does and identify it as the in-process queue would when dropping it.
    const chain = new SessionChain({ sessionId: 's' });
    for (let i = 0; i < 6; i++) chain.seal(AUDIT_EVENTS.userInput, { turn: i }, ctx);
    const ev = chain.seal(AUDIT_EVENTS.auditLoss, recorded[0]!, ctx);
    const id = identifyLogRecord({
      body: ev.body,
      attributes: { 'session.id': 's', 'oi_audit.event.seq': ev.seq, 'event.name': AUDIT_EVENTS.auditLoss },
    } as unknown as ReadableLogRecord);
    expect(id).toMatchObject({ session: 's', seq: 6, isLossEvent: true, declares: [2, 3, 4], declaredRecords: lost });
    expect(id?.record).toEqual({ seq: 6, hash: ev.hash, prev: obj(ev.body).prev });
  });

  it('the v1 spelling is read for v1 sessions only; malformed ranges are named', () => {
    expect(decodeLostRanges({ lost_seqs: [[1, 2], [4, 4]] }, 9, { v1: true })).toEqual({ kind: 'v1', ranges: [{ from: 1, to: 2 }, { from: 4, to: 4 }] });
    expect(decodeLostRanges({ lost_seqs: [[1, 2]] }, 9, { v1: false })).toMatchObject({ kind: 'v1', invalid: /scheme v1 spelling/ });
    expect(decodeLostRanges({ lost: 3 }, 9, { v1: false })).toEqual({ kind: 'count', ranges: [] });
    const h = 'c'.repeat(64);
    const bad: Array<[JsonValue, RegExp]> = [
      [[], /not a non-empty list/],
      [[null], /not an object/],
      [[{ from: 3, to: 2, prev: h, hashes: [] }], /no valid from\.\.to/],
      [[{ from: 1, to: 9, prev: h, hashes: Array(9).fill(h) as string[] }], /comes after the declaration itself/],
      [[{ from: 1, to: 1, prev: 'x', hashes: [h] }], /no prev hash/],
      [[{ from: 1, to: 2, prev: h, hashes: [h] }], /does not carry 2 body hashes/],
      [[{ from: 3, to: 3, prev: h, hashes: [h] }, { from: 1, to: 1, prev: h, hashes: [h] }], /overlap or are not in seq order/],
    ];
    for (const [ranges, reason] of bad) expect(decodeLostRanges({ lost_ranges: ranges }, 9, { v1: false })).toMatchObject({ kind: 'v2', invalid: reason });
    expect(decodeLostRanges({ lost_seqs: [[0, 2e6]] }, 3e6, { v1: true })).toMatchObject({ invalid: /more than 1000000 seqs/ });
  });
});

describe('retention evidence is read by the decoder', () => {
  // A maintenance session that verified VALID and authenticated, and a session with a hole at 0..9.
  const report = (session: string, status: 'valid' | 'invalid', problems: SessionReport['problems']) =>
    ({ session, status, authenticatedBy: 'mac', problems }) as unknown as SessionReport;
  const reports = () => [
    report('maint', 'valid', []),
    report('victim', 'invalid', [{ code: 'missing_start', severity: 'error', message: 'no start' }, { code: 'missing', severity: 'error', from: 1, to: 9, message: 'gap' }]),
  ];
  const rotation = { action: 'rotated', file: '/d/logs.1.jsonl', sessions: [{ session: 'victim', from: 0, to: 9 }] };
  const deletion = { action: 'deleted_by_retention', file: '/d/logs.1.jsonl' };
  const entries = (bodies: string[]) => bodies.map(logEntry);

  it('bodies the maintenance session wrote explain the hole', () => {
    const chain = new SessionChain({ sessionId: 'maint' });
    const bodies = [rotation, deletion].map((d) => chain.seal(AUDIT_EVENTS.sinkMaintenance, d, ctx).body);
    const out = applyRetentionEvidence(reports(), entries(bodies)).find((r) => r.session === 'victim')!;
    expect(out.status).toBe('valid');
    expect(out.problems.map((p) => p.code)).toEqual(['deleted_by_retention', 'deleted_by_retention']);
  });

  it('malformed bodies naming the maintenance session explain nothing (verify files them under their transport session, so they do not spoil it)', () => {
    const forged = [rotation, deletion].map((data) => JSON.stringify({ event: AUDIT_EVENTS.sinkMaintenance, session: 'maint', data }));
    const filed = verifySessions(forged.map((body) => ({ body, sessionHint: 'victim' })));
    expect(filed.map((r) => r.session)).toEqual(['victim']);
    const out = applyRetentionEvidence(reports(), entries(forged)).find((r) => r.session === 'victim')!;
    expect(out.status).toBe('invalid');
    expect(out.problems.some((p) => p.code === 'deleted_by_retention')).toBe(false);
  });

  it('hostile rotation lists (null entries, unsafe numbers) are skipped, not thrown on', () => {
    const chain = new SessionChain({ sessionId: 'maint' });
    const bad = { ...rotation, sessions: [null, 'x', { session: 'victim', from: 0, to: 1e300 }, ...rotation.sessions] };
    const bodies = [bad, deletion].map((d) => chain.seal(AUDIT_EVENTS.sinkMaintenance, d as JsonObject, ctx).body);
    const out = applyRetentionEvidence(reports(), entries(bodies)).find((r) => r.session === 'victim')!;
    expect(out.status).toBe('valid');
  });
});
