import { describe, expect, it } from 'vitest';
import { createChainFactory, loadIntegrityKeys } from '../../src/integrity/chain.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { verifySessions } from '../../src/verify/verify.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';

/**
 * A due checkpoint is signed off the emitting call (the Ed25519 signature was the call's p99): in the next
 * turn of the event loop, or at the start of the next emit if that comes first. Nothing is sealed between
 * the event that made it due and the checkpoint, so the trail is the one sealing it on the call gave.
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
  it('is not sealed on the emitting call; the next tick seals it right after the event that made it due', async () => {
    const { s, turn, checkpoints, verify } = session(10);
    // Session start and turn start are seqs 0 and 1: the 8th message (seq 9) makes the checkpoint due.
    for (let i = 0; i < 8; i++) turn.assistantMessage(`m${i}`);
    expect(checkpoints()).toHaveLength(0);
    await tick();
    const [cp] = checkpoints();
    expect(cp).toBeDefined();
    expect(cp!.data).toMatchObject({ reason: 'count', from_seq: 0, to_seq: 9, count: 10 });
    expect(cp!.seq).toBe(10);
    turn.end('complete');
    s.end('complete');
    const report = verify();
    expect(report.problems.filter((p) => p.severity !== 'info')).toEqual([]);
    expect(report).toMatchObject({ status: 'valid', complete: true, mac: 'checked', keyTrusted: true });
    expect(report.signaturesValid).toBe(report.checkpoints);
  });

  it('an emitter that never yields gets every checkpoint exactly every N events (sealed at the start of the next emit)', () => {
    const { s, turn, checkpoints, verify } = session(10);
    for (let i = 0; i < 45; i++) turn.assistantMessage(`m${i}`);
    const cps = checkpoints();
    expect(cps.map((c) => [c.seq, c.data.from_seq, c.data.to_seq, c.data.count])).toEqual([
      [10, 0, 9, 10],
      [21, 11, 20, 10],
      [32, 22, 31, 10],
      [43, 33, 42, 10],
    ]);
    s.end('complete');
    expect(verify()).toMatchObject({ status: 'valid', complete: true });
  });

  it('session end right after a due checkpoint: the count checkpoint first, then the end one; the tick seals nothing more', async () => {
    const { h, s, turn, checkpoints, verify } = session(10);
    for (let i = 0; i < 8; i++) turn.assistantMessage(`m${i}`);
    turn.end('complete');
    s.end('complete');
    const before = h.bodies().length;
    await tick();
    expect(h.bodies().length).toBe(before);
    const cps = checkpoints();
    expect(cps.map((c) => c.data.reason)).toEqual(['count', 'end']);
    expect(cps[0]!.data).toMatchObject({ from_seq: 0, to_seq: 9 });
    expect(verify()).toMatchObject({ status: 'valid', complete: true });
  });
});
