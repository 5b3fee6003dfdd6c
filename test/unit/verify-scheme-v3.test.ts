import { describe, expect, it } from 'vitest';
import { canonicalize, type JsonObject } from '../../src/record/canonical-json.js';
import { SessionChain, type IntegrityScheme, type SealedEvent } from '../../src/integrity/chain.js';
import { linkHashOfBody } from '../../src/integrity/link.js';
import { macHex, macKeyAt } from '../../src/integrity/ratchet.js';
import { signingInput, signText } from '../../src/integrity/checkpoint.js';
import { deriveSessionMacKey, generateSigningKey, loadIntegrityKeys, nextSeed } from '../../src/keys/integrity-keys.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { verifySessions, type ParsedRecord, type Problem, type SessionReport, type VerifyOptions } from '../../src/verify/verify.js';

/**
 * Attacks on integrity scheme 3 (docs/integrity.md §2, §3, §10): D = SHA-256(body with mac null, a
 * checkpoint's sig blank) is the link, the Merkle leaf input and the MAC's message. Each edit below must
 * fail verification with the problem that names it.
 */
const SEED = Buffer.from('5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed5eed', 'hex');
const keys = loadIntegrityKeys({ env: {}, macSeed: Buffer.from(SEED) });
const BOTH: VerifyOptions = { macSeed: SEED, trustedPublicKeys: [keys.signing.publicKeyRaw] };
const SEED_ONLY: VerifyOptions = { macSeed: SEED };
const PIN_ONLY: VerifyOptions = { trustedPublicKeys: [keys.signing.publicKeyRaw] };

type Obj = JsonObject & { seq: number; event: string; data: JsonObject; mac: string | null; prev: string };

function trail(session: string, scheme: IntegrityScheme = 3, startData?: (d: JsonObject) => JsonObject): { sealed: SealedEvent[]; chain: SessionChain } {
  const chain = new SessionChain({ sessionId: session, keys, scheme });
  let t = Date.UTC(2026, 5, 1);
  const ctx = () => ({ ts: new Date((t += 1000)).toISOString(), traceId: 'ab'.repeat(16), spanId: '00f067aa0ba902b7' });
  const integrity = startData ? startData(chain.sessionStartData()) : chain.sessionStartData();
  const sealed: SealedEvent[] = [chain.seal(AUDIT_EVENTS.sessionStart, { integrity }, ctx())];
  for (let i = 1; i <= 12; i++) {
    sealed.push(chain.seal(AUDIT_EVENTS.userInput, { text: `command ${i}` }, ctx()));
    if (i % 5 === 0) sealed.push(chain.sealCheckpoint('count', ctx()));
  }
  sealed.push(chain.seal(AUDIT_EVENTS.sessionEnd, { outcome: 'complete' }, ctx()));
  sealed.push(chain.sealCheckpoint('end', ctx()));
  return { sealed, chain };
}

const recordsOf = (bodies: string[]): ParsedRecord[] => bodies.map((body, i) => ({ body, source: { file: 'v3.jsonl', line: i + 1 } }));
const one = (bodies: string[], opts: VerifyOptions = BOTH): SessionReport => {
  const rs = verifySessions(recordsOf(bodies), opts);
  expect(rs).toHaveLength(1);
  return rs[0]!;
};
const seqsOf = (r: SessionReport, code: Problem['code']) => r.problems.filter((p) => p.code === code).map((p) => p.seq);
const parse = (body: string) => JSON.parse(body) as Obj;
const bodiesOf = (s: SealedEvent[]) => s.map((x) => x.body);
const firstCheckpoint = (s: SealedEvent[]) => s.findIndex((x) => x.event === AUDIT_EVENTS.integrityCheckpoint);

describe('integrity scheme v3', () => {
  it('an untouched v3 trail is valid under both keys and each alone; its links are D, not the body hash', () => {
    const { sealed } = trail('v3-ok');
    for (const opts of [BOTH, SEED_ONLY, PIN_ONLY]) {
      const r = one(bodiesOf(sealed), opts);
      expect(r.problems.filter((p) => p.severity !== 'info')).toEqual([]);
      expect(r).toMatchObject({ status: 'valid', complete: true, scheme: 3 });
    }
    for (let i = 1; i < sealed.length; i++) expect(parse(sealed[i]!.body).prev).toBe(linkHashOfBody(parse(sealed[i - 1]!.body)));
  });

  it('a v2 trail (the previous writer) still verifies, and says scheme 2', () => {
    const { sealed } = trail('v2-ok', 2);
    const r = one(bodiesOf(sealed));
    expect(r.problems.filter((p) => p.severity !== 'info')).toEqual([]);
    expect(r).toMatchObject({ status: 'valid', complete: true, scheme: 2 });
  });

  it('MACs swapped between two records: bad_mac at both (each MAC is checked under its own seq key over its own D)', () => {
    const bodies = bodiesOf(trail('v3-swap').sealed);
    const a = parse(bodies[2]!);
    const b = parse(bodies[3]!);
    [a.mac, b.mac] = [b.mac, a.mac];
    bodies[2] = canonicalize(a);
    bodies[3] = canonicalize(b);
    const r = one(bodies);
    expect(seqsOf(r, 'bad_mac')).toEqual([2, 3]);
    expect(r.status).toBe('invalid');
    // The chain does not cover the MAC (D excludes it): with the seed, the MAC is what catches it.
    expect(seqsOf(r, 'hash_mismatch')).toEqual([]);
  });

  it('the content edited, prev links kept: hash_mismatch (D changed) and bad_mac; a checkpoint-only verifier sees merkle_mismatch', () => {
    const bodies = bodiesOf(trail('v3-edit').sealed);
    const o = parse(bodies[3]!);
    o.data.text = 'rm -rf / (edited)';
    bodies[3] = canonicalize(o);
    const r = one(bodies);
    expect(seqsOf(r, 'hash_mismatch')).toContain(3);
    expect(seqsOf(r, 'bad_mac')).toEqual([3]);
    const pinned = one(bodies, PIN_ONLY);
    expect(seqsOf(pinned, 'merkle_mismatch').length).toBeGreaterThan(0);
    expect(pinned.status).toBe('invalid');
  });

  it('a body edited so that D stays the same can only differ in mac or sig: a MAC of garbage is bad_mac; a second variant of the seq is a conflict, not a duplicate', () => {
    const bodies = bodiesOf(trail('v3-keepd').sealed);
    const o = parse(bodies[4]!);
    o.mac = 'ab'.repeat(32);
    const edited = canonicalize(o);
    expect(linkHashOfBody(parse(edited))).toBe(linkHashOfBody(parse(bodies[4]!)));
    const r = one([...bodies.slice(0, 4), edited, ...bodies.slice(5)]);
    expect(seqsOf(r, 'bad_mac')).toEqual([4]);
    expect(r.status).toBe('invalid');
    // Both variants delivered: told apart by the whole body, so the forged MAC cannot hide as a duplicate.
    const both = one([...bodies, edited], SEED_ONLY);
    expect(both.problems.map((p) => p.code)).not.toContain('duplicate');
    expect(both.problems.some((p) => p.code === 'conflict' && p.seq === 4)).toBe(true);
  });

  it("a checkpoint's signature changed (another checkpoint's, a foreign key's, flipped bits): bad_signature / untrusted_key", () => {
    const { sealed } = trail('v3-sig');
    const bodies = bodiesOf(sealed);
    const i = firstCheckpoint(sealed);
    const j = sealed.findIndex((x, k) => k > i && x.event === AUDIT_EVENTS.integrityCheckpoint);
    const cp = parse(bodies[i]!);
    const other = parse(bodies[j]!);
    const variants: string[] = [];
    variants.push(canonicalize({ ...cp, data: { ...cp.data, sig: other.data.sig as string } }));
    const foreign = generateSigningKey();
    variants.push(canonicalize({ ...cp, data: { ...cp.data, sig: signText(foreign.privateKey, signingInput(cp)) } }));
    const flipped = Buffer.from(cp.data.sig as string, 'base64');
    flipped[5] = flipped[5]! ^ 1;
    variants.push(canonicalize({ ...cp, data: { ...cp.data, sig: flipped.toString('base64') } }));
    for (const v of variants) {
      // D and the MAC do not cover sig: the chain still links, so only the signature can catch this.
      const forged = [...bodies.slice(0, i), v, ...bodies.slice(i + 1)];
      const r = one(forged, PIN_ONLY);
      expect(seqsOf(r, 'bad_signature')).toEqual([parse(v).seq]);
      expect(r.status).toBe('invalid');
      expect(one(forged).status).toBe('invalid');
    }
  });

  it('a checkpoint re-signed over edited coverage with a stolen-less attacker: merkle root or link breaks', () => {
    const { sealed } = trail('v3-cp-edit');
    const bodies = bodiesOf(sealed);
    const i = firstCheckpoint(sealed);
    const cp = parse(bodies[i]!);
    cp.data.count = (cp.data.count as number) - 1;
    bodies[i] = canonicalize(cp);
    const r = one(bodies);
    expect(r.status).toBe('invalid');
    expect(seqsOf(r, 'bad_signature')).toContain(cp.seq);
    expect(seqsOf(r, 'hash_mismatch')).toContain(cp.seq);
  });

  it('downgrade: a v3 session whose start claims scheme 2 (v3 MACs and links): every MAC fails, links break', () => {
    // The writer itself lies (the start's MAC is valid): the verifier applies v2 rules and nothing fits.
    const { sealed } = trail('v3-claims-v2', 3, (d) => ({ ...d, scheme: 2 }));
    const r = one(bodiesOf(sealed));
    expect(r.status).toBe('invalid');
    expect(seqsOf(r, 'bad_mac')).toEqual(sealed.map((s) => s.seq));
    expect(seqsOf(r, 'hash_mismatch').length).toBeGreaterThan(0);
    expect(one(bodiesOf(sealed), PIN_ONLY).status).toBe('invalid');
  });

  it('downgrade by an outsider: scheme removed (v1) or set to 2 in a v3 start: the start fails its MAC and its link', () => {
    const bodies = bodiesOf(trail('v3-edit-start').sealed);
    const start = parse(bodies[0]!);
    const integ = start.data.integrity as JsonObject;
    const { scheme: _s, ...noScheme } = integ;
    for (const changed of [noScheme, { ...integ, scheme: 2 }]) {
      const forged = [canonicalize({ ...start, data: { ...start.data, integrity: changed } }), ...bodies.slice(1)];
      const r = one(forged);
      expect(r.status).toBe('invalid');
      expect(seqsOf(r, 'bad_mac')).toContain(0);
    }
  });

  it('upgrade: a v2 session whose start is edited to claim scheme 3: the start fails its MAC, v2 MACs fail as v3', () => {
    const bodies = bodiesOf(trail('v2-claims-v3', 2).sealed);
    const start = parse(bodies[0]!);
    const forged = [canonicalize({ ...start, data: { ...start.data, integrity: { ...(start.data.integrity as JsonObject), scheme: 3 } } }), ...bodies.slice(1)];
    const r = one(forged);
    expect(r.status).toBe('invalid');
    expect(seqsOf(r, 'bad_mac')).toContain(0);
    expect(seqsOf(r, 'bad_mac').length).toBeGreaterThan(5);
  });

  it('a v3 body (MAC over D, made with the right key) in a v2 session: bad_mac and hash_mismatch', () => {
    // Even an attacker holding the key for seq 5 cannot make a v3-style record pass in a v2 trail.
    const { sealed, chain } = trail('v2-host', 2);
    const bodies = bodiesOf(sealed);
    const j = chain.sessionStartData().mac_seed_index as number;
    let seed: Buffer = Buffer.from(SEED);
    for (let n = 0; n < j; n++) seed = nextSeed(seed);
    const k5 = macKeyAt(deriveSessionMacKey(seed, 'v2-host'), 5);
    const i = sealed.findIndex((s) => s.seq === 5);
    const o = parse(bodies[i]!);
    o.data.text = 'inserted';
    o.mac = null;
    o.mac = macHex(k5, Buffer.from(linkHashOfBody(o), 'hex'));
    bodies[i] = canonicalize(o);
    const r = one(bodies);
    expect(seqsOf(r, 'bad_mac')).toEqual([5]);
    expect(seqsOf(r, 'hash_mismatch')).toContain(5);
    expect(r.status).toBe('invalid');
  });

  it('a v2-style MAC (over the body text) in a v3 session: bad_mac', () => {
    const { sealed, chain } = trail('v3-host');
    const bodies = bodiesOf(sealed);
    const j = chain.sessionStartData().mac_seed_index as number;
    let seed: Buffer = Buffer.from(SEED);
    for (let n = 0; n < j; n++) seed = nextSeed(seed);
    const k2 = macKeyAt(deriveSessionMacKey(seed, 'v3-host'), 2);
    const o = parse(bodies[2]!);
    o.mac = macHex(k2, canonicalize({ ...o, mac: null }));
    bodies[2] = canonicalize(o);
    const r = one(bodies, SEED_ONLY);
    expect(seqsOf(r, 'bad_mac')).toEqual([2]);
  });
});
