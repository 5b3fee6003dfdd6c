import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { lossDeclarer, QueueLossCollector } from '../../src/otel/loss-declaration.js';
import { canonicalize, type JsonObject } from '../../src/record/canonical-json.js';
import { GENESIS_HASH, sha256Hex } from '../../src/integrity/hash.js';
import { createChainFactory } from '../../src/integrity/chain.js';
import { signingInput, signText } from '../../src/integrity/checkpoint.js';
import { generateSigningKey, loadIntegrityKeys, type SigningKey } from '../../src/keys/integrity-keys.js';
import { eventsMerkleRoot } from '../../src/integrity/merkle.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import type { ParsedRecord, VerifyOptions } from '../../src/verify/verify.js';
import { inMemoryRecorder } from './in-memory.js';

/**
 * A forger's workbench over a real session trail (recorded through the real audit pipeline with
 * known keys), so each forgery in a test is one line. The forger holds no key: it can drop, insert,
 * edit and reorder records, recompute every hash, Merkle root and checkpoint link, and re-sign
 * checkpoints with a key of its own (rechain); it cannot make a MAC under the seed or a signature
 * under the pinned key.
 */

export type Body = JsonObject & { seq: number; prev: string; event: string; session: string; data: JsonObject; mac: string | null };

export interface Trail {
  session: string;
  bodies: string[];
  seed: Buffer;
  publicKey: string;
  /** Verify options with both keys, as `verify --key seed --public-key pub`. */
  keyed: VerifyOptions;
}

export interface TrailOptions {
  session?: string;
  turns?: number;
  /** Seqs the in-process queue "drops": declared lost through the real loss declarer. */
  lose?: number[];
}

/** One recorded session: turns with input, model output, code proposed, approved, run, output. */
export function realTrail(o: TrailOptions = {}): Trail {
  const seed = Buffer.alloc(32, 0x42);
  const keys = loadIntegrityKeys({ env: {}, macSeed: seed });
  const publicKey = keys.signing.publicKeyRaw;
  const { recorder, logs } = inMemoryRecorder({ config: { checkpointEvery: 5 }, chainFactory: createChainFactory(keys) });
  const session = recorder.openSession({ userId: 'alice', ...(o.session ? { sessionId: o.session } : {}), model: 'gpt-4o', policy: 'policy' });
  const lose = new Set(o.lose ?? []);
  const dropped: ReadableLogRecord[] = [];
  const declareDropped = () => {
    const recs = logs.getFinishedLogRecords().filter((r) => lose.has(Number(r.attributes['oi_audit.event.seq'])) && !dropped.includes(r));
    if (recs.length === 0) return;
    dropped.push(...recs);
    // As the real queue-full path does: collected, then declared (a dropped declaration is carried over).
    const collector = new QueueLossCollector(lossDeclarer(recorder));
    for (const r of recs) collector.add(r);
    collector.flush();
  };
  for (let t = 0; t < (o.turns ?? 3); t++) {
    const turn = session.startTurn(`list the files in project ${t}`);
    turn.assistantMessage(`I will list the files of project ${t}.`);
    const code = turn.proposeCode({ language: 'shell', code: `ls -la ~/project${t}`, risk: { level: 'low', rules: [] } });
    code.decide({ decision: 'approved', decider: 'user' });
    code.started();
    code.output(`total 0\nfile-${t}.txt\n`);
    code.end({ error: false });
    turn.end('complete');
    declareDropped();
  }
  session.end('complete');
  const bodies = logs
    .getFinishedLogRecords()
    .filter((r) => !dropped.includes(r))
    .map((r) => String(r.body));
  return { session: session.id, bodies, seed, publicKey, keyed: { macSeed: seed, trustedPublicKeys: [publicKey] } };
}

export const parseBody = (b: string) => JSON.parse(b) as Body;

/** A mutable copy of a trail's bodies, in file order. */
export class Forgery {
  objs: Body[];
  private readonly attacker: SigningKey = generateSigningKey();

  constructor(readonly trail: Trail) {
    this.objs = trail.bodies.map(parseBody);
  }

  get endSeq(): number {
    return this.objs.find((o) => o.event === AUDIT_EVENTS.sessionEnd)!.seq;
  }

  get lastSeq(): number {
    return Math.max(...this.objs.map((o) => o.seq));
  }

  seqsOf(event: string): number[] {
    return this.objs.filter((o) => o.event === event).map((o) => o.seq);
  }

  at(seq: number): Body {
    const o = this.objs.find((x) => x.seq === seq);
    if (!o) throw new Error(`no seq ${seq} in the trail`);
    return o;
  }

  drop(...seqs: number[]): this {
    this.objs = this.objs.filter((o) => !seqs.includes(o.seq));
    return this;
  }

  /** Change a record's content (its hash and MAC no longer fit until rechain fixes the hash). */
  edit(seq: number, change: (o: Body) => void): this {
    change(this.at(seq));
    return this;
  }

  /** Put a record (a body object) into the file at the position of seq `before` (or at the end). */
  insert(o: Body, before?: number): this {
    const i = before === undefined ? this.objs.length : this.objs.findIndex((x) => x.seq === before);
    this.objs.splice(i < 0 ? this.objs.length : i, 0, o);
    return this;
  }

  /** Swap the file positions and seqs of two records (a reordering the forger makes look consistent). */
  swapSeqs(a: number, b: number): this {
    const x = this.at(a);
    const y = this.at(b);
    const i = this.objs.indexOf(x);
    const j = this.objs.indexOf(y);
    x.seq = b;
    y.seq = a;
    this.objs[i] = y;
    this.objs[j] = x;
    return this;
  }

  /** Swap two records in the file only (seqs untouched). */
  swapPositions(a: number, b: number): this {
    const i = this.objs.indexOf(this.at(a));
    const j = this.objs.indexOf(this.at(b));
    [this.objs[i], this.objs[j]] = [this.objs[j]!, this.objs[i]!];
    return this;
  }

  /** A loss declaration as the writer would make it, committing to the hashes of `seqs` (which must be present). */
  forgedLoss(seq: number, lostSeqs: number[]): Body {
    const bodies = new Map(this.objs.map((o) => [o.seq, canonicalize(o)]));
    const ranges = lostSeqs.map((s) => ({ from: s, to: s, prev: s === 0 ? GENESIS_HASH : sha256Hex(bodies.get(s - 1) ?? ''), hashes: [sha256Hex(bodies.get(s) ?? '')] }));
    const template = this.objs[this.objs.length - 1]!;
    return { ...template, seq, event: AUDIT_EVENTS.auditLoss, data: { lost: lostSeqs.length, reason: 'queue_full', lost_ranges: ranges }, mac: null, prev: GENESIS_HASH };
  }

  /**
   * What a forger without keys does last: in seq order, recompute every `prev`, and make every
   * checkpoint fit its place (range, Merkle root, link) and sign it with its own key. Records it
   * did not touch keep their MAC; the ones it did cannot get a valid one.
   */
  rechain(o: { resign?: boolean } = {}): this {
    const resign = o.resign ?? true;
    const sorted = [...this.objs].sort((a, b) => a.seq - b.seq);
    const bodyOf = new Map<number, string>();
    let prevCp = GENESIS_HASH;
    let from = sorted[0]?.seq ?? 0;
    let pending: string[] = [];
    for (const x of sorted) {
      if (x.seq > 0 && bodyOf.has(x.seq - 1)) x.prev = sha256Hex(bodyOf.get(x.seq - 1)!);
      if (x.event === AUDIT_EVENTS.integrityCheckpoint && resign) {
        Object.assign(x.data, { from_seq: from, to_seq: x.seq - 1, count: x.seq - from, epoch: x.seq, merkle_root: eventsMerkleRoot(pending), prev_checkpoint: prevCp, key_id: this.attacker.keyId, sig: '' });
        x.data.sig = signText(this.attacker.privateKey, signingInput({ ...x, mac: null }));
      }
      const body = canonicalize(x);
      bodyOf.set(x.seq, body);
      if (x.event === AUDIT_EVENTS.integrityCheckpoint) {
        prevCp = sha256Hex(body);
        from = x.seq + 1;
        pending = [];
      } else pending.push(sha256Hex(body));
    }
    return this;
  }

  /** Put a record back exactly as the writer made it (byte for byte). */
  restore(seq: number): this {
    const original = this.trail.bodies.map(parseBody).find((o) => o.seq === seq)!;
    const i = this.objs.findIndex((o) => o.seq === seq);
    if (i < 0) this.objs.push(original);
    else this.objs[i] = original;
    return this;
  }

  records(hint?: string): ParsedRecord[] {
    return this.objs.map((x, i) => ({ body: canonicalize(x), source: { file: 'forged.jsonl', line: i + 1 }, ...(hint ? { sessionHint: hint } : {}) }));
  }
}

export const forge = (trail: Trail) => new Forgery(trail);
