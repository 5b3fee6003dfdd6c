import { describe, expect, it } from 'vitest';
import { createChainFactory, loadIntegrityKeys } from '../../src/security/integrity/chain.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { verifySessions } from '../../src/verify/verify.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';

/**
 * A due checkpoint is sealed off the emitting call (the Ed25519 signature was the call's p99), in the next
 * turn of the event loop, or on the call once twice `checkpointEvery` events wait (an emitter that never
 * yields). Either way every event ends up under a signed checkpoint, in chain order, and the trail verifies.
 */
const SEED = Buffer.from('6f692d617564697420746573742073656564202d206e6f7420612072656121', 'hex');
const tick = () => new Promise((resolve) => setImmediate(resolve));

function session(every: number) {
  const keys = loadIntegrityKeys({ env: {}, macSeed: Buffer.from(SEED) });
  const h = inMemoryRecorder({ chainFactory: createChainFactory(keys), config: { checkpointEvery: every } });
  const s = h.recorder.openSession({ userId: 'alice' });
  const turn = s.startTurn('go');
  const checkpoints = () => h.bodies().filter((b) => b.event === AUDIT_EVENTS.integrityCheckpoint);
  const verify = () =>
    verifySessions(
      h.logs.getFinishedLogRecords().map((r, i) => ({ body: r.body as string, source: { file: 'mem', line: i + 1 } })),
      { macSeed: SEED, trustedPublicKeys: [keys.signing.publicKeyRaw] },
    )[0]!;
  return { h, s, turn, checkpoints, verify };
}

describe('deferred checkpoints', () => {
  it('a due checkpoint is not sealed on the emitting call but in the next tick, covering what was emitted meanwhile', async () => {
    const { s, turn, checkpoints, verify } = session(10);
    for (let i = 0; i < 12; i++) turn.assistantMessage(`m${i}`);
    expect(checkpoints()).toHaveLength(0);
    await tick();
    const [cp] = checkpoints();
    expect(cp).toBeDefined();
    // Session start, turn start and 12 messages: all 14 under the one checkpoint, seqs 0..13.
    expect(cp!.data).toMatchObject({ reason: 'count', from_seq: 0, to_seq: 13, count: 14 });
    expect(cp!.seq).toBe(14);
    turn.end('complete');
    s.end('complete');
    const report = verify();
    expect(report.problems.filter((p) => p.severity !== 'info')).toEqual([]);
    expect(report).toMatchObject({ status: 'valid', complete: true, mac: 'checked', keyTrusted: true });
    expect(report.signaturesValid).toBe(report.checkpoints);
  });

  it('an emitter that never yields gets the checkpoint on the call at twice `every` events: the unsigned stretch is bounded', () => {
    const { s, turn, checkpoints, verify } = session(10);
    for (let i = 0; i < 45; i++) turn.assistantMessage(`m${i}`);
    const cps = checkpoints();
    expect(cps.length).toBe(2);
    for (const cp of cps) expect(cp.data.count).toBe(20);
    s.end('complete');
    expect(verify()).toMatchObject({ status: 'valid', complete: true });
  });

  it('session end seals the rest in its end checkpoint; the deferred one then seals nothing and the chain stays closed', async () => {
    const { h, s, turn, checkpoints, verify } = session(5);
    for (let i = 0; i < 6; i++) turn.assistantMessage(`m${i}`);
    turn.end('complete');
    s.end('complete');
    const before = h.bodies().length;
    await tick();
    expect(h.bodies().length).toBe(before);
    const cps = checkpoints();
    expect(cps.map((c) => c.data.reason)).toEqual(['end']);
    expect(cps[0]!.data.from_seq).toBe(0);
    expect(verify()).toMatchObject({ status: 'valid', complete: true });
  });
});
