import { describe, expect, it } from 'vitest';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { verifySessions, type ParsedRecord, type SessionReport, type VerifyOptions } from '../../src/verify/verify.js';
import { forge, parseBody, realTrail, type Forgery } from '../helpers/forger.js';

/**
 * Forgeries of a real session trail (issue #12), each INVALID for a named reason under the MAC seed
 * and the pinned public key; the untouched trail VALID. One line per forgery: see test/helpers/forger.ts.
 */
const trail = realTrail();
const other = realTrail();
const lossy = realTrail({ lose: [7, 8] });
const both = trail.keyed;
const seedOnly: VerifyOptions = { macSeed: trail.seed };
const pinOnly: VerifyOptions = { trustedPublicKeys: [trail.publicKey] };

function reportOf(records: ParsedRecord[], opts: VerifyOptions = both, session = trail.session): SessionReport {
  const r = verifySessions(records, opts).find((x) => x.session === session);
  expect(r, `a report for ${session}`).toBeDefined();
  return r!;
}
const errorCodes = (r: SessionReport) => [...new Set(r.problems.filter((p) => p.severity === 'error').map((p) => p.code))];
function expectInvalid(f: Forgery | ParsedRecord[], reasons: string[], opts: VerifyOptions = both): SessionReport {
  const r = reportOf(Array.isArray(f) ? f : f.records(), opts, Array.isArray(f) ? trail.session : f.trail.session);
  expect(r.status, JSON.stringify(r.problems.map((p) => `${p.code}: ${p.message}`))).toBe('invalid');
  expect(errorCodes(r)).toEqual(expect.arrayContaining(reasons));
  return r;
}

const cps = forge(trail).seqsOf(AUDIT_EVENTS.integrityCheckpoint);
const inputs = forge(trail).seqsOf(AUDIT_EVENTS.userInput);
const codes = forge(trail).seqsOf(AUDIT_EVENTS.codeGenerated);
const end = forge(trail).endSeq;
const last = forge(trail).lastSeq;

describe('the untouched trail', () => {
  it('is VALID under both keys, each key alone, and complete', () => {
    for (const opts of [both, seedOnly, pinOnly]) {
      const r = reportOf(forge(trail).records(), opts);
      expect(r.problems.filter((p) => p.severity !== 'info')).toEqual([]);
      expect(r).toMatchObject({ status: 'valid', complete: true, scheme: 3 });
    }
    expect(reportOf(forge(trail).records()).authenticatedBy).toBe('mac+pinned_key');
    expect(cps.length).toBeGreaterThan(3);
  });

  it('with a real loss (records dropped by the queue, declared by the writer): VALID with the loss declared', () => {
    const r = reportOf(forge(lossy).records(), both, lossy.session);
    expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(r).toMatchObject({ status: 'valid', declaredLost: 2, missing: [{ from: 7, to: 8, declared: true }], complete: true });
    expect(r.merkleRootsValid).toBe(r.checkpoints); // the declared hashes keep every root recomputable
  });
});

describe('forgeries: INVALID with the right reason under --key and --public-key', () => {
  it('F1: seq 0 and the record before the end dropped, a loss forged for them, input and code rewritten', () => {
    const f1 = () =>
      forge(trail)
        .drop(0, end - 1)
        .insert(forge(trail).forgedLoss(end - 1, [0]), end)
        .edit(inputs[0]!, (o) => ((o.data.text as any) = 'hello'))
        .edit(codes[0]!, (o) => ((o.data.code as any) = { mode: 'full', text: 'echo harmless' }))
        .rechain();
    expectInvalid(f1(), ['missing_start', 'forged_loss']);
    // No single key can be downgraded around either.
    expectInvalid(f1(), ['missing_start', 'forged_loss'], seedOnly);
    expectInvalid(f1(), ['missing_start', 'forged_loss'], pinOnly);
  });

  it('F2: an invented transcript under the real session id, kept alive by its real signed end checkpoint', () => {
    const f2 = () => {
      const f = forge(trail).drop(...cps.slice(0, -1));
      for (const s of inputs) f.edit(s, (o) => ((o.data.text as any) = `invented ${s}`));
      return f.rechain({ resign: false }).restore(last);
    };
    expectInvalid(f2(), ['bad_mac', 'uncovered']);
    expectInvalid(f2(), ['uncovered'], pinOnly);
    expectInvalid(f2(), ['bad_mac'], seedOnly);
  });

  it.each<[string, () => Forgery | ParsedRecord[], string[]]>([
    ['a record from another session, as it is', () => [...forge(trail).records(), { ...forge(other).records()[4]!, sessionHint: trail.session }], ['foreign_record']],
    ['a record from another session, renamed into this one', () => forge(trail).drop(4).insert({ ...parseBody(other.bodies[4]!), session: trail.session }, 5), ['foreign_record', 'bad_mac']],
    ['every checkpoint re-signed with another key', () => forge(trail).rechain(), ['bad_signature']],
    ['one checkpoint re-signed after an edit', () => forge(trail).edit(inputs[1]!, (o) => ((o.data.text as any) = 'x')).rechain(), ['bad_signature', 'bad_mac']],
    ['a checkpoint dropped', () => forge(trail).drop(cps[1]!), ['missing', 'checkpoint_chain', 'uncovered']],
    ['records reordered across a checkpoint (seqs swapped, chain redone)', () => forge(trail).swapSeqs(cps[1]! - 1, cps[1]! + 1).rechain(), ['bad_mac', 'bad_signature']],
    ['records reordered across a checkpoint in the file only', () => forge(trail).swapPositions(cps[1]! - 1, cps[1]! + 1), ['reordered']],
    ['the session start removed', () => forge(trail).drop(0), ['missing_start']],
    ['the session start removed and the chain redone', () => forge(trail).drop(0).rechain(), ['missing_start', 'untrusted_key']],
    ['a loss declaration inserted (in place of a record it declares lost with the true hash)', () => forge(trail).drop(5, 6).insert(forge(trail).forgedLoss(6, [5]), 7).rechain({ resign: false }), ['forged_loss']],
    ['a loss declaration inserted, chain redone and re-signed', () => forge(trail).drop(5, 6).insert(forge(trail).forgedLoss(6, [5]), 7).rechain(), ['forged_loss', 'bad_signature']],
    ['a loss declaration edited (one more seq declared lost)', () => forge(lossy).edit(forge(lossy).seqsOf(AUDIT_EVENTS.auditLoss)[0]!, (o) => ((o.data.lost as any) = 3)), ['forged_loss']],
    ['the end event removed', () => forge(trail).drop(end), ['truncated']],
    ['the end event and its checkpoint removed', () => forge(trail).drop(end, last), ['truncated']],
    ['everything after a checkpoint replaced', () => {
      const f = forge(trail);
      for (const o of f.objs) if (o.seq > cps[1]! && o.event === AUDIT_EVENTS.userInput) o.data.text = 'replaced';
      return f.rechain();
    }, ['bad_mac', 'bad_signature']],
  ])('%s', (_name, make, reasons) => {
    expectInvalid(make(), reasons);
  });

  it('a loss edited is caught even where the lost record itself is absent: the chain is checked across the gap', () => {
    // The forger rewrites the declared hash of a lost record: the record after the gap no longer chains onto it.
    const loss = forge(lossy).seqsOf(AUDIT_EVENTS.auditLoss)[0]!;
    const f = forge(lossy).edit(loss, (o) => ((o.data.lost_ranges as any)[0].hashes[1] = 'ab'.repeat(32)));
    const r = expectInvalid(f, ['forged_loss']);
    // Without the seed (MAC), the pinned signature over the checkpoint still catches it.
    expectInvalid(f, ['forged_loss'], pinOnly);
    expect(r.missing.some((m) => !m.declared)).toBe(true);
  });
});

describe('without keys', () => {
  it('the untouched trail is INVALID (unauthenticated) unless --allow-unauthenticated; forgeries stay invalid', () => {
    expectInvalid(forge(trail).records(), ['unauthenticated'], {});
    expect(reportOf(forge(trail).records(), { allowUnauthenticated: true }).status).toBe('valid');
    // An unproven loss declaration is a forgery even without keys.
    expectInvalid(forge(trail).drop(5, 6).insert(forge(trail).forgedLoss(6, [5]), 7), ['forged_loss'], { allowUnauthenticated: true });
  });
});
