import { describe, expect, it } from 'vitest';
import { createChainFactory, loadIntegrityKeys } from '../../src/integrity/chain.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { verifySessions } from '../../src/verify/verify.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';
import { linkHashOfBody } from '../../src/integrity/link.js';
import type { JsonObject } from '../../src/record/canonical-json.js';
import { releaseAllHeld } from '../../src/audit/event-log.js';

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
  it('scheme 3: the emitting call never signs; records after a due checkpoint are sealed at once and exported in seq order once it is signed', async () => {
    const { h, s, turn, checkpoints, verify } = session(10);
    for (let i = 0; i < 8; i++) turn.assistantMessage(`m${i}`); // seq 9 makes the checkpoint (seq 10) due
    turn.assistantMessage('after');
    turn.assistantMessage('after 2');
    // Sealed on the call, but not exported before the checkpoint: the exporter still ends at seq 9.
    expect(h.bodies().map((b) => b.seq).at(-1)).toBe(9);
    expect(checkpoints()).toHaveLength(0);
    await tick();
    expect(h.bodies().map((b) => b.seq)).toEqual(Array.from({ length: 13 }, (_, i) => i));
    expect(checkpoints()[0]!.data.sig).toMatch(/^[A-Za-z0-9+/]{86}==$/);
    // Seq 11 chains onto the checkpoint's D (made before its signature existed).
    expect(h.bodies()[11]!.prev).toBe(linkHashOfBody(checkpoints()[0] as JsonObject));
    turn.end('complete');
    s.end('complete');
    const report = verify();
    expect(report.problems.filter((p) => p.severity !== 'info')).toEqual([]);
    expect(report).toMatchObject({ status: 'valid', complete: true, scheme: 3 });
  });

  it('records held behind an unsigned checkpoint are released by the process-exit hook (an exit before the loop turns loses none)', () => {
    const { h, s, turn } = session(10);
    for (let i = 0; i < 10; i++) turn.assistantMessage(`m${i}`);
    const exported = h.bodies().length;
    releaseAllHeld(); // what the process 'exit' listener runs, synchronously
    const seqs = h.bodies().map((b) => b.seq as number);
    expect(seqs.length).toBeGreaterThan(exported);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i));
    s.end('complete');
  });

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

  it('an emitter that never yields gets every checkpoint exactly every N events (sealed on the call, signed off it)', async () => {
    const { h, s, turn, checkpoints, verify } = session(10);
    for (let i = 0; i < 45; i++) turn.assistantMessage(`m${i}`);
    // Scheme 3: the last checkpoint (seq 43) is in the chain but not signed yet; the record after it
    // waits behind it, so the exporter has not seen either.
    expect(h.bodies().map((b) => b.seq).at(-1)).toBe(42);
    await tick();
    const seqs = h.bodies().map((b) => b.seq as number);
    expect(seqs.at(-1)).toBeGreaterThan(43);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i));
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
