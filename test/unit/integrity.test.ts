import { createHash, createHmac, createPublicKey, generateKeyPairSync, hkdfSync, verify as edVerify } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalize, type JsonObject } from '../../src/record/canonical-json.js';
import { GENESIS_HASH, sha256Hex } from '../../src/integrity/hash.js';
import { signingInput } from '../../src/integrity/checkpoint.js';
import { createChainFactory, SessionChain, type SealedEvent } from '../../src/integrity/chain.js';
import {
  deriveSessionMacKey,
  ephemeralIntegrityKeys,
  loadIntegrityKeys,
  macCommitment,
  nextSeed,
  normalizePublicKey,
  parsePublicKey,
  parseSigningKey,
  seedAt,
} from '../../src/keys/integrity-keys.js';
import {
  eventsMerkleRoot,
  inclusionProof,
  leafHash,
  merkleRoot,
  merkleRootOfLeafHashes,
  MerkleAccumulator,
  verifyInclusion,
} from '../../src/integrity/merkle.js';
import { MacRatchet, macKeyAt, nextMacKey, RATCHET_LABEL } from '../../src/integrity/ratchet.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { verifySessions } from '../../src/verify/verify.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';

const SEED = Buffer.from('6f692d617564697420746573742073656564202d206e6f7420612072656121', 'hex');
const keys = loadIntegrityKeys({ env: {}, macSeed: SEED });
const ctx = (i = 0) => ({ ts: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, i)).toISOString(), traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' });
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function sealSome(chain: SessionChain, n: number): SealedEvent[] {
  const out: SealedEvent[] = [chain.seal(AUDIT_EVENTS.sessionStart, { integrity: chain.sessionStartData() }, ctx(0))];
  for (let i = 1; i < n; i++) out.push(chain.seal(AUDIT_EVENTS.userInput, { text: `input ${i}`, i }, ctx(i)));
  return out;
}

describe('event bodies', () => {
  it('are RFC 8785 canonical JSON of {v, session, seq, prev, ts, event, trace_id, span_id, data, mac}', () => {
    const chain = new SessionChain({ sessionId: 'sess-ü-1', keys });
    const data: JsonObject = { z: 1, a: [3, { y: 'é😀', b: null }], text: 'line\nnext "quoted" \\ back', n: 1e21, f: 0.1 };
    const s = chain.seal(AUDIT_EVENTS.userInput, data, ctx());
    const obj = JSON.parse(s.body) as JsonObject;
    expect(Object.keys(obj).sort()).toEqual(['data', 'event', 'mac', 'prev', 'seq', 'session', 'span_id', 'trace_id', 'ts', 'v']);
    expect(canonicalize(obj)).toBe(s.body);
    expect(obj).toMatchObject({ v: 1, session: 'sess-ü-1', seq: 0, prev: GENESIS_HASH, event: AUDIT_EVENTS.userInput, data });
    expect(obj.mac).toMatch(/^[0-9a-f]{64}$/);
    // Scheme 3: the link is D, the SHA-256 of the body with mac null; scheme 2: of the whole body.
    expect(s.hash).toBe(sha256Hex(canonicalize({ ...obj, mac: null })));
    const v2 = new SessionChain({ sessionId: 'sess-ü-2', keys, scheme: 2 }).seal(AUDIT_EVENTS.userInput, data, ctx());
    expect(v2.hash).toBe(sha256Hex(v2.body));
  });

  it('chain: seq counts up from 0, prev is the SHA-256 of the previous full body (64 zeros first)', () => {
    const chain = new SessionChain({ sessionId: 's-chain', keys });
    const events = sealSome(chain, 6);
    events.forEach((e, i) => {
      const obj = JSON.parse(e.body) as JsonObject;
      expect(obj.seq).toBe(i);
      expect(obj.prev).toBe(i === 0 ? GENESIS_HASH : events[i - 1]!.hash);
    });
    expect(chain.seq).toBe(6);
    expect(chain.head).toBe(events[5]!.hash);
  });

  it('data that RFC 8785 refuses (lone surrogates, NaN) is sanitised and flagged, never thrown at the host', () => {
    const chain = new SessionChain({ sessionId: 's-lenient', keys });
    const s = chain.seal(AUDIT_EVENTS.error, { message: 'bad \ud800 text', ratio: Number.NaN }, ctx());
    const obj = JSON.parse(s.body) as { data: JsonObject };
    expect(obj.data).toEqual({ message: 'bad \\u{d800} text', ratio: null, _sanitized: true });
    expect(canonicalize(obj as unknown as JsonObject)).toBe(s.body);
  });

  it('refuses a session id that cannot be canonicalised', () => {
    expect(() => new SessionChain({ sessionId: 'x\udc00', keys })).toThrow();
  });
});

describe('forward-secure MAC', () => {
  for (const scheme of [2, 3] as const)
  it(`k0 = HKDF-SHA256(seed[j], salt "oi-audit/mac/v1", info = session id); mac_i = HMAC(k_i, ${scheme === 2 ? 'body with mac null' : 'D = SHA-256(body with mac null)'})`, () => {
    const chain = new SessionChain({ sessionId: `s-mac-${scheme}`, keys, scheme });
    const j = chain.sessionStartData().mac_seed_index as number;
    const k0 = Buffer.from(hkdfSync('sha256', seedAt(SEED, j), 'oi-audit/mac/v1', `s-mac-${scheme}`, 32));
    expect(deriveSessionMacKey(seedAt(SEED, j), `s-mac-${scheme}`).equals(k0)).toBe(true);
    const events = sealSome(chain, 4);
    let k = k0;
    for (const e of events) {
      const obj = JSON.parse(e.body) as JsonObject;
      const text = canonicalize({ ...obj, mac: null });
      const input = scheme === 2 ? Buffer.from(text) : createHash('sha256').update(text).digest();
      expect(obj.mac).toBe(createHmac('sha256', k).update(input).digest('hex'));
      k = createHmac('sha256', k).update('oi-audit ratchet').digest();
    }
    expect(macKeyAt(k0, 4).equals(k)).toBe(true);
  });

  it('the session start publishes algorithms, the public key, its id and a commitment to k0', () => {
    const chain = new SessionChain({ sessionId: 's-start', keys, checkpointEvery: 50 });
    const d = chain.sessionStartData();
    const k0 = deriveSessionMacKey(seedAt(SEED, d.mac_seed_index as number), 's-start');
    const commitment = createHash('sha256').update(createHmac('sha256', k0).update('commit').digest()).digest('hex');
    expect(d).toMatchObject({
      chain: 'sha256',
      canonicalization: 'rfc8785',
      mac: 'hmac-sha256',
      merkle: 'rfc6962-sha256',
      signature: 'ed25519',
      mac_commitment: commitment,
      mac_seed_id: 'default',
      public_key: keys.signing.publicKeyRaw,
      key_id: keys.signing.keyId,
      checkpoint_every: 50,
    });
    expect(macCommitment(k0)).toBe(commitment);
    expect(Buffer.from(d.public_key as string, 'base64')).toHaveLength(32);
    expect(d.key_id).toBe(createHash('sha256').update(Buffer.from(d.public_key as string, 'base64')).digest('hex').slice(0, 16));
  });

  it('the seed ratchets once per session: consecutive indices, the configured seed leaves memory', () => {
    const own = loadIntegrityKeys({ env: {}, macSeed: SEED });
    expect(own.macSeed.secret.equals(SEED)).toBe(true);
    const a = new SessionChain({ sessionId: 'seed-a', keys: own }).sessionStartData();
    expect(own.macSeed.secret.equals(Buffer.alloc(SEED.length))).toBe(true);
    const factory = createChainFactory(own);
    const b = factory('seed-b').sessionStartData();
    const c = factory('seed-c').sessionStartData();
    expect([a.mac_seed_index, b.mac_seed_index, c.mac_seed_index]).toEqual([0, 1, 2]);
    expect(seedAt(SEED, 2).equals(nextSeed(nextSeed(SEED)))).toBe(true);
    expect(nextSeed(SEED).equals(createHmac('sha256', SEED).update('oi-audit seed ratchet').digest())).toBe(true);
    expect(c.mac_commitment).toBe(macCommitment(deriveSessionMacKey(seedAt(SEED, 2), 'seed-c')));
  });

  it('the ratchet overwrites the old key with zeros and cannot be used after destroy', () => {
    const r = new MacRatchet(Buffer.alloc(32, 7));
    const held = (r as unknown as { key: Buffer }).key;
    const before = Buffer.from(held);
    r.advance();
    expect(held.equals(Buffer.alloc(32))).toBe(true);
    expect(r.snapshot().key.equals(createHmac('sha256', before).update(RATCHET_LABEL).digest())).toBe(true);
    expect(r.index).toBe(1);
    r.destroy();
    expect(() => r.mac('x')).toThrow(/destroyed/);
    expect(r.snapshot().key.equals(Buffer.alloc(32))).toBe(true);
  });

  it('the state after event N yields no earlier key: every key reachable from it is a later one', () => {
    const chain = new SessionChain({ sessionId: 's-fs', keys });
    sealSome(chain, 10);
    const stolen = chain.keyStateForTesting();
    expect(stolen.index).toBe(10);
    const k0 = deriveSessionMacKey(seedAt(SEED, chain.sessionStartData().mac_seed_index as number), 's-fs');
    const earlier = Array.from({ length: 10 }, (_, i) => macKeyAt(k0, i));
    let k = stolen.key;
    for (let step = 0; step < 1000; step++) {
      for (const e of earlier) expect(k.equals(e)).toBe(false);
      k = nextMacKey(k);
    }
    expect(stolen.key.equals(macKeyAt(k0, 10))).toBe(true);
  });
});

describe('checkpoints', () => {
  it('carry from/to, an RFC 6962 root over the event hashes, the previous checkpoint hash, the epoch and an Ed25519 signature', () => {
    const chain = new SessionChain({ sessionId: 's-cp', keys });
    const first = sealSome(chain, 5);
    const cp1 = chain.sealCheckpoint('count', ctx(5));
    const more = [chain.seal(AUDIT_EVENTS.userInput, { x: 1 }, ctx(6)), chain.seal(AUDIT_EVENTS.userInput, { x: 2 }, ctx(7))];
    const cp2 = chain.sealCheckpoint('idle', ctx(8));
    const d1 = (JSON.parse(cp1.body) as { data: JsonObject }).data;
    const d2 = (JSON.parse(cp2.body) as { data: JsonObject }).data;
    expect(cp1.seq).toBe(5);
    expect(d1).toMatchObject({ reason: 'count', from_seq: 0, to_seq: 4, count: 5, epoch: 5, prev_checkpoint: GENESIS_HASH, alg: 'ed25519', key_id: keys.signing.keyId });
    expect(d1.merkle_root).toBe(merkleRoot(first.map((e) => Buffer.from(e.hash, 'hex'))).toString('hex'));
    expect(d2).toMatchObject({ reason: 'idle', from_seq: 6, to_seq: 7, count: 2, epoch: 8, prev_checkpoint: cp1.hash });
    expect(d2.merkle_root).toBe(eventsMerkleRoot(more.map((e) => e.hash)));
    for (const cp of [cp1, cp2]) {
      const obj = JSON.parse(cp.body) as JsonObject;
      const sig = Buffer.from((obj.data as JsonObject).sig as string, 'base64');
      expect(sig).toHaveLength(64);
      const signed = canonicalize({ ...obj, data: { ...(obj.data as JsonObject), sig: '' }, mac: null });
      expect(signingInput(obj)).toBe(signed);
      expect(edVerify(null, Buffer.from(signed), keys.signing.publicKey, sig)).toBe(true);
      expect(edVerify(null, Buffer.from(signed.replace('"count"', '"idle"')), keys.signing.publicKey, sig)).toBe(false);
    }
    expect(chain.hasUncheckpointedEvents()).toBe(false);
  });

  it('checkpointDue follows the chain policy (count, interval) only when events are pending', () => {
    let now = 1_000;
    const chain = new SessionChain({ sessionId: 's-due', keys, checkpointEvery: 3, checkpointIntervalMs: 10_000, now: () => now });
    expect(chain.checkpointDue(now)).toBe(false);
    sealSome(chain, 2);
    expect(chain.checkpointDue(now)).toBe(false);
    expect(chain.checkpointDue(now + 10_000)).toBe(true);
    chain.seal(AUDIT_EVENTS.userInput, {}, ctx());
    expect(chain.checkpointDue(now)).toBe(true);
    now = 5_000;
    chain.sealCheckpoint('count', ctx());
    expect(chain.checkpointDue(now + 60_000)).toBe(false);
    expect(new SessionChain({ sessionId: 'no-policy', keys }).checkpointDue(Number.MAX_SAFE_INTEGER)).toBe(false);
  });

  it('the end checkpoint erases the MAC key; nothing can be sealed after it', () => {
    const chain = new SessionChain({ sessionId: 's-end', keys });
    sealSome(chain, 2);
    chain.seal(AUDIT_EVENTS.sessionEnd, { outcome: 'complete' }, ctx());
    chain.sealCheckpoint('end', ctx());
    expect(chain.isClosed).toBe(true);
    expect(chain.keyStateForTesting().key.equals(Buffer.alloc(32))).toBe(true);
    expect(() => chain.seal(AUDIT_EVENTS.userInput, {}, ctx())).toThrow(/closed/);
  });
});

describe('RFC 6962 Merkle tree', () => {
  // The Certificate Transparency reference inputs and tree heads (RFC 6962 test data, as used by
  // Go, C++ and JS CT implementations).
  const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) => Buffer.from(h, 'hex'));
  const ROOTS = [
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
    '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
    'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
    '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
  ];

  it('matches the reference root for every tree size 0..8', () => {
    for (let n = 0; n <= 8; n++) expect(hex(merkleRoot(LEAVES.slice(0, n))), `size ${n}`).toBe(ROOTS[n]);
  });

  it('leaf hash is SHA-256(0x00 || d), empty tree is SHA-256()', () => {
    expect(hex(leafHash(Buffer.alloc(0)))).toBe(ROOTS[1]);
    expect(hex(leafHash(Buffer.from([0])))).toBe('96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7');
  });

  it('reference inclusion proofs (leaf 0 and leaf 5 of 8) are produced and verify', () => {
    const lh = LEAVES.map(leafHash);
    const root = Buffer.from(ROOTS[8]!, 'hex');
    const p0 = inclusionProof(lh, 0).map(hex);
    expect(p0).toEqual([
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ]);
    const p5 = inclusionProof(lh, 5).map(hex);
    expect(p5).toEqual([
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ]);
    expect(verifyInclusion(lh[0]!, 0, 8, inclusionProof(lh, 0), root)).toBe(true);
    expect(verifyInclusion(lh[5]!, 5, 8, inclusionProof(lh, 5), root)).toBe(true);
    expect(verifyInclusion(lh[5]!, 4, 8, inclusionProof(lh, 5), root)).toBe(false);
  });

  it('every inclusion proof round-trips for every tree size up to 37, and the bottom-up root equals the recursive one', () => {
    const many = Array.from({ length: 37 }, (_, i) => createHash('sha256').update(`event ${i}`).digest());
    for (let n = 1; n <= many.length; n++) {
      const leaves = many.slice(0, n).map(leafHash);
      const root = merkleRootOfLeafHashes(leaves);
      expect(eventsMerkleRoot(many.slice(0, n).map(hex))).toBe(hex(root));
      // The incremental accumulator the chain uses gives the same root, also after a reset.
      const acc = new MerkleAccumulator();
      for (const h of many.slice(0, 5)) acc.append(h);
      acc.reset();
      for (const h of many.slice(0, n)) acc.append(h);
      expect(acc.count).toBe(n);
      expect(acc.rootHex(), `n=${n}`).toBe(hex(root));
      for (let i = 0; i < n; i++) {
        const proof = inclusionProof(leaves, i);
        expect(verifyInclusion(leaves[i]!, i, n, proof, root), `${i}/${n}`).toBe(true);
        if (n > 1) expect(verifyInclusion(leaves[(i + 1) % n]!, i, n, proof, root)).toBe(false);
      }
    }
  });
});

describe('keys', () => {
  const HEX32 = 'a1'.repeat(32);

  it('MAC seed from OI_AUDIT_MAC_SEED (with or without an id) or a file; signing key from a PEM or raw-seed file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oi-keys-'));
    const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    writeFileSync(join(dir, 'sign.pem'), pem);
    writeFileSync(join(dir, 'seed'), `prod-2026:${HEX32}\n`);
    writeFileSync(join(dir, 'sign.raw'), 'b2'.repeat(32));
    const a = loadIntegrityKeys({ env: { OI_AUDIT_MAC_SEED: HEX32, OI_AUDIT_SIGNING_KEY_FILE: join(dir, 'sign.pem') } });
    expect(a.macSeed).toMatchObject({ id: 'default', ephemeral: false });
    expect(a.macSeed.secret.toString('hex')).toBe(HEX32);
    expect(a.signing.ephemeral).toBe(false);
    expect(a.signing.publicKeyRaw).toBe(normalizePublicKey(createPublicKey(pem).export({ format: 'pem', type: 'spki' }).toString()));
    const b = loadIntegrityKeys({ env: { OI_AUDIT_MAC_SEED_FILE: join(dir, 'seed'), OI_AUDIT_SIGNING_KEY_FILE: join(dir, 'sign.raw') } });
    expect(b.macSeed.id).toBe('prod-2026');
    expect(b.signing.keyId).toBe(parseSigningKey('b2'.repeat(32)).keyId);
    const c = loadIntegrityKeys({ env: {}, files: { macSeed: join(dir, 'seed') } });
    expect(c.macSeed.id).toBe('prod-2026');
  });

  it('without configuration: one generated key set per process, flagged ephemeral; or an error when required', () => {
    const a = loadIntegrityKeys({ env: {} });
    expect(a).toEqual(ephemeralIntegrityKeys());
    expect(a.macSeed.ephemeral && a.signing.ephemeral).toBe(true);
    const d = new SessionChain({ sessionId: 'eph' }).sessionStartData();
    expect(d).toMatchObject({ mac_seed_ephemeral: true, signing_key_ephemeral: true, public_key: a.signing.publicKeyRaw });
    expect(() => loadIntegrityKeys({ env: {}, require: { macSeed: true } })).toThrow(/MAC seed/);
    expect(() => loadIntegrityKeys({ env: {}, require: { signingKey: true } })).toThrow(/signing key/);
  });

  it('refuses short seeds and non-Ed25519 signing keys', () => {
    expect(() => loadIntegrityKeys({ env: { OI_AUDIT_MAC_SEED: 'abcd' } })).toThrow(/at least 16/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(() => loadIntegrityKeys({ env: {}, signingKey: rsa })).toThrow(/Ed25519/);
  });

  it('public keys parse from raw base64, hex, SPKI DER base64 and SPKI PEM to the same raw form', () => {
    const raw = keys.signing.publicKeyRaw;
    const der = keys.signing.publicKey.export({ format: 'der', type: 'spki' });
    const pem = keys.signing.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    for (const form of [raw, Buffer.from(raw, 'base64').toString('hex'), der.toString('base64'), pem]) expect(normalizePublicKey(form)).toBe(raw);
    expect(parsePublicKey('not a key')).toBeUndefined();
  });
});

describe('recorder wiring', () => {
  it('createChainFactory gives every session a chain under the loaded keys; a real session verifies end to end', () => {
    const h = inMemoryRecorder({ chainFactory: createChainFactory(keys), config: { checkpointEvery: 4 } });
    const session = h.recorder.openSession({ userId: 'alice' });
    const turn = session.startTurn('list files');
    const exec = turn.proposeCode({ language: 'shell', code: 'ls' });
    exec.decide({ decision: 'approved', decider: 'policy' });
    exec.started();
    exec.output('a\nb\n');
    exec.end({ error: false });
    turn.end('complete');
    session.end('complete');
    const bodies = h.logs.getFinishedLogRecords().map((r) => r.body as string);
    const start = JSON.parse(bodies[0]!) as { data: { integrity: JsonObject } };
    expect(start.data.integrity.public_key).toBe(keys.signing.publicKeyRaw);
    const [report] = verifySessions(
      bodies.map((body, i) => ({ body, source: { file: 'mem', line: i + 1 } })),
      { macSeed: SEED, trustedPublicKeys: [keys.signing.publicKeyRaw] },
    );
    expect(report!.problems.filter((p) => p.severity !== 'info')).toEqual([]);
    expect(report).toMatchObject({ status: 'valid', complete: true, mac: 'checked', keyTrusted: true });
    expect(report!.macsValid).toBe(bodies.length);
    expect(report!.checkpoints).toBeGreaterThanOrEqual(2);
    expect(report!.signaturesValid).toBe(report!.checkpoints);
  });
});

describe('cost', () => {
  it('measures seal() per event (with a checkpoint every 100) and the whole pipeline; printed, not asserted', () => {
    const chain = new SessionChain({ sessionId: 'bench', keys });
    const data: JsonObject = { mode: 'redacted', sha256: 'a'.repeat(64), bytes: 420, text: 'x'.repeat(400), turn: 3, redaction_rules: '1.0.0' };
    const c = ctx();
    const run = (n: number) => {
      const t = performance.now();
      for (let i = 0; i < n; i++) {
        chain.seal(AUDIT_EVENTS.userInput, data, c);
        if (i % 100 === 99) chain.sealCheckpoint('count', c);
      }
      return ((performance.now() - t) * 1000) / n;
    };
    run(2000);
    const sealUs = Math.min(run(20_000), run(20_000));

    const h = inMemoryRecorder({ chainFactory: createChainFactory(keys) });
    const session = h.recorder.openSession({ userId: 'bench' });
    const text = 'total 12\ndrwxr-xr-x 2 user user 4096 Jan  1 00:00 src\n-rw-r--r-- 1 user user  220 Jan  1 00:00 README.md\n';
    const pipeline = (n: number) => {
      const t = performance.now();
      for (let i = 0; i < n; i++) session.emit(AUDIT_EVENTS.commandOutput, session.rootSpan, { output: session.capture('output', text) });
      return ((performance.now() - t) * 1000) / n;
    };
    pipeline(1000);
    const pipeUs = Math.min(pipeline(10_000), pipeline(10_000));
    h.logs.reset();
    session.end('complete');
    console.log(
      `seal(): ${sealUs.toFixed(1)} µs/event (${Math.round(1e6 / sealUs)} events/s); ` +
        `capture+redact+seal+emit: ${pipeUs.toFixed(1)} µs/event (${Math.round(1e6 / pipeUs)} events/s)`,
    );
    expect(sealUs).toBeGreaterThan(0);
  });
});
