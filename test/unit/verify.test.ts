import { describe, expect, it } from 'vitest';
import { canonicalize, type JsonObject } from '../../src/record/canonical-json.js';
import { sha256Hex } from '../../src/integrity/hash.js';
import { signingInput, signText } from '../../src/integrity/checkpoint.js';
import { SessionChain, type IntegrityScheme, type SealedEvent } from '../../src/integrity/chain.js';
import { linkHashOfBody } from '../../src/integrity/link.js';
import { generateSigningKey, loadIntegrityKeys, type IntegrityKeys } from '../../src/keys/integrity-keys.js';
import { eventsMerkleRoot } from '../../src/integrity/merkle.js';
import { macHex, nextMacKey } from '../../src/integrity/ratchet.js';
import { AUDIT_EVENTS, type AuditEventName } from '../../src/semconv/events.js';
import { verifySessions, type ParsedRecord, type Problem, type SessionReport, type VerifyOptions } from '../../src/verify/verify.js';

const SEED = Buffer.from('f00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeedf00dfeed', 'hex');
const keys = loadIntegrityKeys({ env: {}, macSeed: SEED });
const PINNED = { macSeed: SEED, trustedPublicKeys: [keys.signing.publicKeyRaw] };

interface StreamOptions {
  events?: number;
  every?: number;
  keys?: IntegrityKeys;
  trace?: string;
  /** ms between events */
  stepMs?: number;
  /** The clock jumps this far forward before the event with this seq. */
  jump?: { beforeSeq: number; ms: number };
  /** Extra events sealed before the end: [event, data]. */
  extra?: Array<[AuditEventName, JsonObject | ((sealed: SealedEvent[]) => JsonObject)]>;
  /** Scheme the writer uses (default: the current one). */
  scheme?: IntegrityScheme;
}

/** A complete, valid session stream: start, inputs with checkpoints every `every`, end, final checkpoint. */
function stream(session: string, o: StreamOptions = {}): ParsedRecord[] {
  const n = o.events ?? 24;
  const every = o.every ?? 10;
  const chain = new SessionChain({ sessionId: session, keys: o.keys ?? keys, ...(o.scheme ? { scheme: o.scheme } : {}) });
  const trace = o.trace ?? sha256Hex(session).slice(0, 32);
  let t = Date.UTC(2026, 2, 1, 12, 0, 0);
  const ctx = () => {
    if (o.jump && chain.seq === o.jump.beforeSeq) t += o.jump.ms;
    return { ts: new Date((t += o.stepMs ?? 1000)).toISOString(), traceId: trace, spanId: '00f067aa0ba902b7' };
  };
  const out: SealedEvent[] = [chain.seal(AUDIT_EVENTS.sessionStart, { integrity: chain.sessionStartData(), user: 'k1:abcd' }, ctx())];
  let since = 1;
  for (let i = 1; i < n; i++) {
    out.push(chain.seal(AUDIT_EVENTS.userInput, { text: `input number ${i}`, turn: i }, ctx()));
    if (++since >= every) {
      out.push(chain.sealCheckpoint('count', ctx()));
      since = 0;
    }
  }
  for (const [event, data] of o.extra ?? []) out.push(chain.seal(event, typeof data === 'function' ? data(out) : data, ctx()));
  out.push(chain.seal(AUDIT_EVENTS.sessionEnd, { outcome: 'complete' }, ctx()));
  out.push(chain.sealCheckpoint('end', ctx()));
  return out.map((s, i) => ({ body: s.body, source: { file: `${session}.jsonl`, line: i + 1 } }));
}

const parse = (r: ParsedRecord) => JSON.parse(r.body) as JsonObject & { seq: number; data: JsonObject; event: string };
const seqOf = (recs: ParsedRecord[], seq: number) => recs.findIndex((r) => parse(r).seq === seq);
const checkpointSeqs = (recs: ParsedRecord[]) => recs.map(parse).filter((o) => o.event === AUDIT_EVENTS.integrityCheckpoint).map((o) => o.seq);

function one(records: ParsedRecord[], opts: VerifyOptions = PINNED): SessionReport {
  const reports = verifySessions(records, opts);
  expect(reports).toHaveLength(1);
  return reports[0]!;
}
const errors = (r: SessionReport) => r.problems.filter((p) => p.severity === 'error');
const codes = (r: SessionReport, severity?: Problem['severity']) =>
  r.problems.filter((p) => !severity || p.severity === severity).map((p) => p.code);
const find = (r: SessionReport, code: Problem['code']) => r.problems.filter((p) => p.code === code);

/** Re-serialise a body after editing it (canonical, but hash and MAC no longer fit). */
function edit(rec: ParsedRecord, change: (o: JsonObject & { data: JsonObject }) => void): ParsedRecord {
  const o = parse(rec);
  change(o);
  return { ...rec, body: canonicalize(o) };
}

describe('a sealed stream', () => {
  it('verifies: chain, every MAC, every checkpoint signature and Merkle root, complete', () => {
    const recs = stream('sess-ok');
    const r = one(recs);
    expect(errors(r)).toEqual([]);
    expect(r).toMatchObject({
      session: 'sess-ok',
      status: 'valid',
      records: recs.length,
      firstSeq: 0,
      lastSeq: recs.length - 1,
      ended: true,
      complete: true,
      mac: 'checked',
      macsValid: recs.length,
      keyTrusted: true,
      duplicates: 0,
      missing: [],
    });
    expect(r.checkpoints).toBe(checkpointSeqs(recs).length);
    expect(r.signaturesValid).toBe(r.checkpoints);
    expect(r.merkleRootsValid).toBe(r.checkpoints);
    expect(r.publicKey).toBe(keys.signing.publicKeyRaw);
  });

  it('without any key: INVALID (unauthenticated) unless allowUnauthenticated; then valid, "MAC not checked", key not pinned', () => {
    const strict = one(stream('sess-noseed'), {});
    expect(strict.status).toBe('invalid');
    expect(errors(strict).map((p) => p.code)).toEqual(['unauthenticated']);
    expect(strict.authenticatedBy).toBe('none');
    const r = one(stream('sess-noseed'), { allowUnauthenticated: true });
    expect(r.status).toBe('valid');
    expect(find(r, 'unauthenticated')[0]!.severity).toBe('warning');
    expect(r.mac).toBe('not_checked');
    expect(codes(r, 'info')).toEqual(expect.arrayContaining(['mac_not_checked', 'key_not_pinned']));
    expect(r.keyTrusted).toBeUndefined();
  });

  it('several sessions interleaved are grouped and each verified', () => {
    const a = stream('sess-a');
    const b = stream('sess-b');
    const mixed = a.flatMap((x, i) => (b[i] ? [x, b[i]] : [x]));
    const reports = verifySessions(mixed, PINNED);
    expect(reports.map((r) => [r.session, r.status])).toEqual([
      ['sess-a', 'valid'],
      ['sess-b', 'valid'],
    ]);
  });
});

describe('tampering is reported with the right problem', () => {
  it('one character changed: hash_mismatch and bad_mac at that seq, merkle_mismatch at its checkpoint', () => {
    const recs = stream('t-char');
    const i = seqOf(recs, 4);
    recs[i] = { ...recs[i]!, body: recs[i]!.body.replace('input number 4', 'input number 5') };
    const r = one(recs);
    expect(r.status).toBe('invalid');
    expect(find(r, 'hash_mismatch').map((p) => p.seq)).toEqual([4]);
    expect(find(r, 'bad_mac').map((p) => p.seq)).toEqual([4]);
    expect(find(r, 'merkle_mismatch').map((p) => [p.from, p.to])).toEqual([[0, 9]]);
    expect(find(r, 'hash_mismatch')[0]!.source).toEqual({ file: 't-char.jsonl', line: i + 1 });
  });

  it('a record deleted: missing N (undeclared), its checkpoint cannot be recomputed', () => {
    const recs = stream('t-del');
    recs.splice(seqOf(recs, 6), 1);
    const r = one(recs);
    expect(r.status).toBe('invalid');
    expect(r.missing).toEqual([{ from: 6, to: 6, declared: false }]);
    expect(find(r, 'missing')[0]).toMatchObject({ severity: 'error', from: 6, to: 6, declared: false });
    expect(codes(r)).toContain('unverifiable_checkpoint');
    expect(codes(r)).not.toContain('hash_mismatch');
  });

  it('a range deleted: missing a..b', () => {
    const recs = stream('t-range');
    recs.splice(seqOf(recs, 12), 4);
    expect(one(recs).missing).toEqual([{ from: 12, to: 15, declared: false }]);
  });

  it('two records swapped in the file: reordered (an error: oi-audit sinks keep order; a warning with allowReorder)', () => {
    const recs = stream('t-swap');
    const i = seqOf(recs, 3);
    [recs[i], recs[i + 1]] = [recs[i + 1]!, recs[i]!];
    const r = one(recs);
    expect(find(r, 'reordered')).toHaveLength(1);
    expect(find(r, 'reordered')[0]).toMatchObject({ severity: 'error', count: 1, seq: 3 });
    expect(r.status).toBe('invalid');
    // The content itself is intact: nothing else is wrong, and a store that does not keep order passes.
    expect(codes(r, 'error')).toEqual(['reordered']);
    const relaxed = one(recs, { ...PINNED, allowReorder: true });
    expect(find(relaxed, 'reordered')[0]!.severity).toBe('warning');
    expect(relaxed.status).toBe('valid');
  });

  it('seq fields swapped between two records: hash_mismatch, bad_mac', () => {
    const recs = stream('t-seqswap');
    const a = seqOf(recs, 2);
    const b = seqOf(recs, 3);
    recs[a] = edit(recs[a]!, (o) => (o.seq = 3));
    recs[b] = edit(recs[b]!, (o) => (o.seq = 2));
    const r = one(recs);
    expect(codes(r)).toEqual(expect.arrayContaining(['hash_mismatch', 'bad_mac']));
    expect(r.status).toBe('invalid');
  });

  it('tail dropped: truncated after the last seq present', () => {
    const recs = stream('t-tail').slice(0, 15);
    const last = parse(recs[14]!).seq;
    const r = one(recs);
    expect(find(r, 'truncated')).toHaveLength(1);
    expect(find(r, 'truncated')[0]).toMatchObject({ seq: last, severity: 'error' });
    expect(find(r, 'truncated')[0]!.message).toMatch(new RegExp(`truncated after seq ${last}`));
    expect(r).toMatchObject({ ended: false, complete: false, status: 'invalid' });
  });

  it('tail dropped, but a session still running is only "open" with allowOpen', () => {
    const r = one(stream('t-open').slice(0, 15), { ...PINNED, allowOpen: true });
    expect(codes(r)).toContain('open');
    expect(r.status).toBe('valid');
  });

  it('final checkpoint dropped: truncated (the end is not covered by a signature)', () => {
    const recs = stream('t-final');
    recs.pop();
    const r = one(recs);
    expect(r.ended).toBe(true);
    expect(find(r, 'truncated')[0]!.message).toMatch(/not covered by a verified checkpoint/);
    expect(r.status).toBe('invalid');
  });

  it('a checkpoint in the middle dropped: missing (a checkpoint), checkpoint_chain at the next one', () => {
    const recs = stream('t-cp');
    const [first, second] = checkpointSeqs(recs);
    recs.splice(seqOf(recs, first!), 1);
    const r = one(recs);
    expect(find(r, 'missing')[0]).toMatchObject({ from: first, to: first, declared: false });
    expect(find(r, 'missing')[0]!.message).toContain('checkpoint');
    expect(find(r, 'checkpoint_chain').map((p) => p.seq)).toEqual([second]);
  });

  it('MAC changed: bad_mac at that seq', () => {
    const recs = stream('t-mac');
    const i = seqOf(recs, 7);
    recs[i] = edit(recs[i]!, (o) => (o.mac = 'ab'.repeat(32)));
    const r = one(recs);
    expect(find(r, 'bad_mac').map((p) => p.seq)).toEqual([7]);
  });

  it('MAC removed (null): bad_mac', () => {
    const recs = stream('t-nomac');
    const i = seqOf(recs, 7);
    recs[i] = edit(recs[i]!, (o) => (o.mac = null));
    expect(find(one(recs), 'bad_mac')[0]!.message).toMatch(/no MAC/);
  });

  it('checkpoint signature altered: bad_signature', () => {
    const recs = stream('t-sig');
    const cp = checkpointSeqs(recs)[0]!;
    const i = seqOf(recs, cp);
    recs[i] = edit(recs[i]!, (o) => {
      const sig = Buffer.from(o.data.sig as string, 'base64');
      sig[10] = sig[10]! ^ 1;
      o.data.sig = sig.toString('base64');
    });
    const r = one(recs);
    expect(find(r, 'bad_signature').map((p) => p.seq)).toEqual([cp]);
  });

  it('a body reformatted (same JSON, not canonical): not_canonical (scheme 2: and hash_mismatch)', () => {
    for (const scheme of [2, 3] as const) {
      const recs = stream(`t-fmt-${scheme}`, { scheme });
      const i = seqOf(recs, 5);
      recs[i] = { ...recs[i]!, body: JSON.stringify(parse(recs[i]!), null, 1) };
      const r = one(recs);
      expect(find(r, 'not_canonical').map((p) => p.seq)).toEqual([5]);
      // Scheme 3 links by D over the canonical form of the content, which did not change.
      expect(find(r, 'hash_mismatch').map((p) => p.seq)).toEqual(scheme === 2 ? [5] : []);
      expect(codes(r)).not.toContain('bad_mac'); // the content is the same: only the form changed
      expect(r.status).toBe('invalid');
    }
  });

  it('a line that is not an audit body: malformed, with where it was', () => {
    const recs = stream('t-bad');
    recs.push({ body: '{"truncated json', source: { file: 't-bad.jsonl', line: 99 }, sessionHint: 't-bad' });
    const r = one(recs);
    expect(find(r, 'malformed')[0]).toMatchObject({ source: { file: 't-bad.jsonl', line: 99 } });
  });

  it('replay of a record from another session, as it is: foreign_record in the session it was filed under', () => {
    const a = stream('replay-a');
    const b = stream('replay-b');
    const stolen = { ...b[seqOf(b, 3)]!, source: { file: 'replay-a.jsonl', line: 999 }, sessionHint: 'replay-a' };
    const reports = verifySessions([...a, stolen, ...b], { ...PINNED, allowReorder: true });
    const ra = reports.find((r) => r.session === 'replay-a')!;
    expect(find(ra, 'foreign_record')[0]).toMatchObject({ seq: 3, source: { file: 'replay-a.jsonl', line: 999 } });
    expect(ra.status).toBe('invalid');
    // In its own session it is just a second copy.
    const rb = reports.find((r) => r.session === 'replay-b')!;
    expect(rb.duplicates).toBe(1);
    expect(rb.status).toBe('valid');
  });

  it('replay with the session field rewritten: foreign_record (other trace, chained onto the other session) and the chain breaks', () => {
    const a = stream('replay-c');
    const b = stream('replay-d');
    const i = seqOf(a, 3);
    a[i] = edit(b[seqOf(b, 3)]!, (o) => (o.session = 'replay-c'));
    const reports = verifySessions([...a, ...b], PINNED);
    const rc = reports.find((r) => r.session === 'replay-c')!;
    const foreign = find(rc, 'foreign_record');
    expect(foreign.length).toBeGreaterThanOrEqual(1);
    expect(foreign.every((p) => p.seq === 3)).toBe(true);
    expect(foreign.map((p) => p.message).join(' ')).toMatch(/trace/);
    expect(codes(rc)).toEqual(expect.arrayContaining(['hash_mismatch', 'bad_mac']));
  });

  it('replay onto a chain whose trace matches: caught because its prev belongs to the other session', () => {
    const trace = 'ab'.repeat(16);
    const a = stream('replay-e', { trace });
    const b = stream('replay-f', { trace });
    a[seqOf(a, 3)] = edit(b[seqOf(b, 3)]!, (o) => (o.session = 'replay-e'));
    const rc = verifySessions([...a, ...b], PINNED).find((r) => r.session === 'replay-e')!;
    expect(find(rc, 'foreign_record')[0]!.message).toMatch(/chains onto seq 2 of session replay-f/);
  });

  it('duplicates (same seq, same body) are counted, not errors; a different body at the same seq is a conflict', () => {
    const recs = stream('t-dup');
    const doubled = recs.flatMap((x, i) => (i === 5 || i === 6 ? [x, x] : [x]));
    const r1 = one(doubled);
    expect(r1).toMatchObject({ status: 'valid', duplicates: 2 });
    expect(find(r1, 'duplicate')[0]).toMatchObject({ severity: 'info', count: 2 });
    const forged = edit(recs[seqOf(recs, 5)]!, (o) => (o.data.text = 'something else'));
    const r2 = one([...recs, forged], { ...PINNED, allowReorder: true });
    expect(find(r2, 'conflict')[0]).toMatchObject({ seq: 5, count: 2, severity: 'error' });
    // The genuine record is the one kept: no chain or MAC error at seq 5.
    expect(find(r2, 'hash_mismatch')).toEqual([]);
    expect(find(r2, 'bad_mac')).toEqual([]);
  });

  it('a wholly re-forged stream (attacker keys, consistent chain) passes only if nothing is pinned', () => {
    const attacker = { macSeed: { id: 'default', secret: Buffer.alloc(32, 9), ephemeral: false }, signing: generateSigningKey() };
    const forged = stream('t-forged', { keys: attacker });
    expect(one(forged, { allowUnauthenticated: true }).status).toBe('valid');
    expect(one(forged, {}).status).toBe('invalid');
    const pinned = one(forged, { trustedPublicKeys: [keys.signing.publicKeyRaw] });
    expect(codes(pinned)).toContain('untrusted_key');
    const seeded = one(forged, { macSeed: SEED });
    expect(codes(seeded)).toContain('bad_commitment');
    expect(seeded.mac).toBe('wrong_seed');
  });

  it('sessions from several processes (seed indices restart) verify with one seed; a forged seed index does not', () => {
    const procA = loadIntegrityKeys({ env: {}, macSeed: SEED, signingKey: keys.signing.privateKey });
    const procB = loadIntegrityKeys({ env: {}, macSeed: SEED, signingKey: keys.signing.privateKey });
    const recs = [...stream('p-a1', { keys: procA }), ...stream('p-a2', { keys: procA }), ...stream('p-b1', { keys: procB })];
    const reports = verifySessions(recs, PINNED);
    expect(reports.map((r) => r.status)).toEqual(['valid', 'valid', 'valid']);
    const starts = recs.map(parse).filter((o) => o.seq === 0).map((o) => (o.data.integrity as JsonObject).mac_seed_index);
    expect(starts).toEqual([0, 1, 0]);
    const forged = stream('p-c', { keys: procA });
    forged[0] = edit(forged[0]!, (o) => ((o.data.integrity as JsonObject).mac_seed_index = 0));
    expect(codes(one(forged))).toContain('bad_commitment');
  });

  it('the wrong seed is reported once as bad_commitment, not as a bad MAC on every record', () => {
    const r = one(stream('t-seed'), { macSeed: Buffer.alloc(32, 1) });
    expect(find(r, 'bad_commitment')).toHaveLength(1);
    expect(find(r, 'bad_mac')).toEqual([]);
  });
});

describe('losses and time', () => {
  it('a declared loss is reported as declared (warning), distinct from an undeclared gap (error)', () => {
    const declare = (sealed: SealedEvent[]): JsonObject => ({
      lost: 3,
      reason: 'spool_full',
      lost_ranges: [{ from: 5, to: 7, prev: sealed[4]!.hash, hashes: [sealed[5]!.hash, sealed[6]!.hash, sealed[7]!.hash] }],
    });
    const recs = stream('loss', { every: 100, extra: [[AUDIT_EVENTS.auditLoss, declare]] });
    const declaredOnly = recs.filter((r) => ![5, 6, 7].includes(parse(r).seq));
    const r1 = one(declaredOnly);
    expect(r1.missing).toEqual([{ from: 5, to: 7, declared: true }]);
    expect(find(r1, 'missing')[0]).toMatchObject({ severity: 'warning', declared: true });
    expect(r1.declaredLost).toBe(3);
    expect(r1.status).toBe('valid');

    const more = recs.filter((r) => ![5, 6, 7, 8].includes(parse(r).seq));
    const r2 = one(more);
    expect(r2.missing).toEqual([
      { from: 5, to: 7, declared: true },
      { from: 8, to: 8, declared: false },
    ]);
    expect(r2.status).toBe('invalid');
  });

  it('a scheme v1 trail (no scheme in the start) with a v1 loss (lost_seqs): valid, and says what v1 cannot prove', () => {
    // The v1 writer linked and MACed as scheme 2 does; it only published no scheme.
    const chain = new SessionChain({ sessionId: 'v1-loss', keys, scheme: 2 });
    let t = Date.UTC(2026, 2, 1);
    const ctx = () => ({ ts: new Date((t += 1000)).toISOString(), traceId: 'aa'.repeat(16), spanId: '00f067aa0ba902b7' });
    const { scheme: _scheme, ...v1Start } = chain.sessionStartData();
    const sealed = [chain.seal(AUDIT_EVENTS.sessionStart, { integrity: v1Start }, ctx())];
    for (let i = 1; i <= 6; i++) sealed.push(chain.seal(AUDIT_EVENTS.userInput, { text: `in ${i}` }, ctx()));
    sealed.push(chain.seal(AUDIT_EVENTS.auditLoss, { lost: 2, reason: 'spool_full', lost_seqs: [[3, 4]] }, ctx()));
    sealed.push(chain.seal(AUDIT_EVENTS.sessionEnd, { outcome: 'complete' }, ctx()));
    sealed.push(chain.sealCheckpoint('end', ctx()));
    const recs = sealed.filter((x) => x.seq !== 3 && x.seq !== 4).map((x, i) => ({ body: x.body, source: { file: 'v1.jsonl', line: i + 1 } }));
    const r = one(recs);
    expect(errors(r)).toEqual([]);
    expect(r).toMatchObject({ status: 'valid', scheme: 1, declaredLost: 2, missing: [{ from: 3, to: 4, declared: true }] });
    expect(find(r, 'scheme_v1')[0]!.severity).toBe('warning');
    expect(find(r, 'unverifiable_checkpoint')[0]!.severity).toBe('warning');
    // The same spelling in a v2 session is no declaration: a forgery.
    const v2 = stream('v2-lost-seqs', { extra: [[AUDIT_EVENTS.auditLoss, { lost: 1, reason: 'x', lost_seqs: [[2, 2]] }]] });
    expect(codes(one(v2), 'error')).toContain('forged_loss');
  });

  it('a loss event without a seq range is reported as declared_loss', () => {
    const r = one(stream('loss2', { extra: [[AUDIT_EVENTS.auditLoss, { lost: 12, reason: 'exporter queue full' }]] }));
    expect(find(r, 'declared_loss')[0]).toMatchObject({ severity: 'warning', count: 12 });
    expect(r.declaredLost).toBe(12);
  });

  it('time gaps longer than maxGapMs are reported between the two seqs', () => {
    const recs = stream('gap', { stepMs: 1000, jump: { beforeSeq: 9, ms: 3_600_000 } });
    const r = one(recs, { ...PINNED, maxGapMs: 600_000 });
    expect(find(r, 'time_gap')).toHaveLength(1);
    expect(find(r, 'time_gap')[0]).toMatchObject({ from: 8, to: 9, severity: 'warning' });
    expect(find(r, 'time_gap')[0]!.message).toMatch(/1\.0 h|60\.0 min/);
    expect(r.status).toBe('valid');
    expect(find(one(recs, PINNED), 'time_gap')).toEqual([]);
  });

  it('Loki-style newest-first input (allowReorder): one reordered warning, everything else valid', () => {
    const r = one([...stream('loki')].reverse(), { ...PINNED, allowReorder: true });
    expect(find(r, 'reordered')[0]!.count).toBeGreaterThan(10);
    expect(r.status).toBe('valid');
  });

  it('transport hints from log attributes (session.id) are honoured', () => {
    const recs = stream('attr').map((x) => ({ ...x, attributes: { 'session.id': 'attr' } }));
    expect(one(recs).status).toBe('valid');
  });
});

describe('forward security', () => {
  for (const scheme of [2, 3] as const)
  it(`with the key state after event N, a forged event before N fails MAC verification, even with chain and checkpoints redone (scheme ${scheme})`, () => {
    const N = 14;
    const session = `fs-session-${scheme}`;
    const chain = new SessionChain({ sessionId: session, keys, scheme });
    const link = (o: JsonObject, body: string) => (scheme === 2 ? sha256Hex(body) : linkHashOfBody(o));
    const trace = 'cd'.repeat(16);
    let t = Date.UTC(2026, 2, 1);
    const ctx = () => ({ ts: new Date((t += 1000)).toISOString(), traceId: trace, spanId: '00f067aa0ba902b7' });
    const sealed: SealedEvent[] = [chain.seal(AUDIT_EVENTS.sessionStart, { integrity: chain.sessionStartData() }, ctx())];
    for (let i = 1; i <= N; i++) {
      sealed.push(i % 5 === 0 ? chain.sealCheckpoint('count', ctx()) : chain.seal(AUDIT_EVENTS.userInput, { text: `cmd ${i}` }, ctx()));
    }
    // The attacker takes the process now: MAC key for seq N+1, the signing key, the chain head.
    const stolen = chain.keyStateForTesting();
    expect(stolen.index).toBe(N + 1);

    // Rewrite event 3 and everything after it, so hashes, Merkle roots and signatures all fit.
    const objs = sealed.map((s) => JSON.parse(s.body) as JsonObject & { data: JsonObject; seq: number; event: string });
    objs[3]!.data.text = 'cmd 3 -- nothing to see here';
    const bodies: string[] = [];
    const links: string[] = [];
    let prevCp = '0'.repeat(64);
    let pending: string[] = [];
    for (const o of objs) {
      if (o.seq > 0) o.prev = links[o.seq - 1]!;
      if (o.event === AUDIT_EVENTS.integrityCheckpoint) {
        o.data.prev_checkpoint = prevCp;
        o.data.merkle_root = eventsMerkleRoot(pending);
        o.data.sig = '';
        o.data.sig = signText(keys.signing.privateKey, signingInput({ ...o, mac: null }));
      }
      // Best the attacker can do for MACs: the stolen key and anything ratcheted from it.
      let k: Buffer = Buffer.from(stolen.key);
      for (let j = 0; j < o.seq % 3; j++) k = nextMacKey(k);
      if (o.seq >= 3) o.mac = scheme === 2 ? macHex(k, canonicalize({ ...o, mac: null })) : macHex(k, Buffer.from(linkHashOfBody(o), 'hex'));
      const body = canonicalize(o);
      bodies.push(body);
      links.push(link(o, body));
      if (o.event === AUDIT_EVENTS.integrityCheckpoint) {
        prevCp = links[o.seq]!;
        pending = [];
      } else pending.push(links[o.seq]!);
    }
    const recs = bodies.map((body, i) => ({ body, source: { file: 'fs.jsonl', line: i + 1 } }));

    const r = one(recs, { ...PINNED, allowOpen: true });
    // The chain, the Merkle roots and the signatures are all consistent again...
    expect(codes(r)).not.toContain('hash_mismatch');
    expect(codes(r)).not.toContain('merkle_mismatch');
    expect(codes(r)).not.toContain('bad_signature');
    // ...but every rewritten event before the compromise fails its MAC, starting at the forged one.
    const bad = find(r, 'bad_mac').map((p) => p.seq);
    expect(bad[0]).toBe(3);
    expect(bad).toEqual(Array.from({ length: N - 2 }, (_, i) => i + 3));
    expect(r.status).toBe('invalid');
    // Without the seed the forgery is invisible: MACs are what carry forward security.
    expect(one(recs, { trustedPublicKeys: PINNED.trustedPublicKeys, allowOpen: true }).status).toBe('valid');
  });
});
