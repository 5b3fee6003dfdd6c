import type { KeyObject } from 'node:crypto';
import { canonicalize, type JsonObject } from '../security/canonical-json.js';
import { GENESIS_HASH, sha256Hex } from '../security/hash.js';
import { signingInput, verifyText } from '../security/integrity/checkpoint.js';
import { deriveSessionMacKey, macCommitment, nextSeed, normalizePublicKey, parsePublicKey } from '../security/integrity/keys.js';
import { eventsMerkleRoot } from '../security/integrity/merkle.js';
import { macHex, nextMacKey } from '../security/integrity/ratchet.js';
import { AUDIT_EVENTS, isAuditEventName } from '../semconv/events.js';

/**
 * Verification of audit streams from their bodies alone (no I/O here: readers in src/read/ turn
 * files, gzip and Loki output into ParsedRecords). Reports per session, in the manner of
 * `aws cloudtrail validate-logs`: what is valid, what is not, and where.
 */

/** Where a record was read from. */
export interface RecordSource {
  file: string;
  line: number;
}

/** One log body as read, and where it came from. A src/read LogEntry is structurally one of these. */
export interface ParsedRecord {
  /** The log record body: the canonical JSON audit event, verbatim. */
  body: string;
  source?: RecordSource;
  /**
   * The session the transport filed this record under (log attribute `session.id`, a Loki stream
   * label, a per-session file). When it disagrees with the body's `session`, the record is foreign.
   */
  sessionHint?: string;
  /** Log record attributes; `session.id` is used as sessionHint when that is not given. */
  attributes?: Record<string, unknown>;
}

export interface VerifyOptions {
  /** The master MAC seed. Without it MACs are reported as not checked. */
  macSeed?: Buffer;
  /**
   * Ed25519 public keys the checkpoints must be signed with (raw base64 as in session-start events,
   * base64 SPKI DER, or SPKI PEM). Without them, signatures are checked against the key the stream
   * publishes itself, which proves consistency, not origin.
   */
  trustedPublicKeys?: string[];
  /** Report a time_gap when consecutive events are further apart than this (ms). */
  maxGapMs?: number;
  /** The store does not keep arrival order (e.g. a Collector queue with several consumers): reordering is a warning. */
  allowReorder?: boolean;
  /** Sessions still running: a missing end is a warning (`open`), not `truncated`. */
  allowOpen?: boolean;
}

export type Severity = 'error' | 'warning' | 'info';

export type ProblemCode =
  | 'malformed'
  | 'not_canonical'
  | 'hash_mismatch'
  | 'bad_mac'
  | 'bad_commitment'
  | 'mac_not_checked'
  | 'bad_signature'
  | 'untrusted_key'
  | 'key_not_pinned'
  | 'merkle_mismatch'
  | 'checkpoint_chain'
  | 'bad_checkpoint'
  | 'unverifiable_checkpoint'
  | 'missing'
  | 'declared_loss'
  | 'conflict'
  | 'duplicate'
  | 'reordered'
  | 'truncated'
  | 'open'
  | 'after_end'
  | 'time_gap'
  | 'clock_skew'
  | 'foreign_record';

export interface Problem {
  code: ProblemCode;
  severity: Severity;
  message: string;
  /** The record concerned. */
  seq?: number;
  /** A range of seqs (missing a..b, a time gap between a and b). */
  from?: number;
  to?: number;
  /** For `missing`: the gap is covered by an `oi_audit.audit.loss` event. */
  declared?: boolean;
  /** How many times it occurred, for problems reported once (duplicates, reordering). */
  count?: number;
  source?: RecordSource;
}

export interface SessionReport {
  session: string;
  /** `invalid` when any problem has severity error. */
  status: 'valid' | 'invalid';
  /** Distinct seqs present. */
  records: number;
  firstSeq?: number;
  lastSeq?: number;
  firstTs?: string;
  lastTs?: string;
  /** A session-end event is present. */
  ended: boolean;
  /** Ended, and the end is covered by a signed checkpoint. */
  complete: boolean;
  checkpoints: number;
  /** Checkpoints whose signature verified. */
  signaturesValid: number;
  /** Checkpoints whose Merkle root was recomputed and matched. */
  merkleRootsValid: number;
  /** `checked`: every present record's MAC was verified with the seed. */
  mac: 'checked' | 'not_checked' | 'wrong_seed';
  macsValid: number;
  publicKey?: string;
  keyId?: string;
  /** true: pinned key; false: key not in the trusted list; undefined: no list given. */
  keyTrusted?: boolean;
  duplicates: number;
  /** Seq ranges absent from the input. */
  missing: Array<{ from: number; to: number; declared: boolean }>;
  /** Events declared lost by `oi_audit.audit.loss` events (with or without seq ranges). */
  declaredLost: number;
  problems: Problem[];
  sources: string[];
}

/** Seqs beyond this are not MAC-checked (walking the ratchet that far would be a denial of service). */
const MAX_MAC_SEQ = 50_000_000;

interface Rec {
  index: number;
  body: string;
  hash: string;
  source?: RecordSource;
  obj: JsonObject;
  session: string;
  seq: number;
  prev: string;
  ts: string;
  event: string;
  traceId: string;
  spanId: string;
  data: JsonObject;
  mac: string | null;
  canonical: boolean;
}

interface Group {
  session: string;
  recs: Rec[];
  problems: Problem[];
  sources: Set<string>;
}

const HEX64 = /^[0-9a-f]{64}$/;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function where(source: RecordSource | undefined): string {
  return source ? ` (${source.file}:${source.line})` : '';
}

function hintOf(r: ParsedRecord): string | undefined {
  if (r.sessionHint) return r.sessionHint;
  const a = r.attributes?.['session.id'];
  return typeof a === 'string' && a ? a : undefined;
}

/** Parse and shape-check one body. Returns the record or a reason. */
function parseRecord(r: ParsedRecord, index: number): { rec: Rec } | { reason: string; session?: string } {
  let obj: unknown;
  try {
    obj = JSON.parse(r.body);
  } catch (err) {
    return { reason: `body is not JSON (${(err as Error).message})` };
  }
  if (!isObject(obj)) return { reason: 'body is not a JSON object' };
  const session = typeof obj.session === 'string' ? obj.session : undefined;
  const bad = (what: string) => ({ reason: what, session });
  if (!session) return bad('no session');
  if (obj.v !== 1) return bad(`unknown body version ${JSON.stringify(obj.v)}`);
  if (typeof obj.seq !== 'number' || !Number.isSafeInteger(obj.seq) || obj.seq < 0) return bad('seq is not a non-negative integer');
  if (typeof obj.prev !== 'string' || !HEX64.test(obj.prev)) return bad('prev is not a SHA-256 hex digest');
  if (typeof obj.ts !== 'string') return bad('ts is not a string');
  if (typeof obj.event !== 'string' || !isAuditEventName(obj.event)) return bad(`unknown event ${JSON.stringify(obj.event)}`);
  if (typeof obj.trace_id !== 'string' || typeof obj.span_id !== 'string') return bad('trace_id/span_id missing');
  if (!isObject(obj.data)) return bad('data is not an object');
  if (obj.mac !== null && (typeof obj.mac !== 'string' || !HEX64.test(obj.mac))) return bad('mac is neither null nor a hex HMAC');
  let canonical = false;
  try {
    canonical = canonicalize(obj) === r.body;
  } catch {
    canonical = false;
  }
  return {
    rec: {
      index,
      body: r.body,
      hash: sha256Hex(r.body),
      source: r.source,
      obj,
      session,
      seq: obj.seq,
      prev: obj.prev,
      ts: obj.ts,
      event: obj.event,
      traceId: obj.trace_id,
      spanId: obj.span_id,
      data: obj.data,
      mac: obj.mac as string | null,
      canonical,
    },
  };
}

/** Seq ranges a loss event declares (several spellings accepted), or undefined when it names none. */
function declaredRanges(data: JsonObject): Array<[number, number]> | undefined {
  const int = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined);
  const pairs: Array<[unknown, unknown]> = [
    [data.from_seq, data.to_seq],
    [data.first_seq, data.last_seq],
    [data.seq_from, data.seq_to],
  ];
  for (const [a, b] of pairs) {
    const x = int(a);
    const y = int(b);
    if (x !== undefined && y !== undefined && y >= x) return [[x, y]];
  }
  // `lost_seqs` is what the spool writes ([[from, to], …]).
  const seqs = data.lost_seqs ?? data.seqs ?? data.ranges;
  if (Array.isArray(seqs)) {
    const out: Array<[number, number]> = [];
    for (const s of seqs) {
      if (Array.isArray(s) && s.length === 2) {
        const x = int(s[0]);
        const y = int(s[1]);
        if (x !== undefined && y !== undefined && y >= x) out.push([x, y]);
      } else if (int(s) !== undefined) out.push([int(s)!, int(s)!]);
    }
    if (out.length) return out;
  }
  return undefined;
}

/** The text the MAC covers, from a parsed body: canonical form with mac = null. */
function macInputOf(rec: Rec): string {
  return canonicalize({ ...rec.obj, mac: null });
}

/**
 * Verify audit streams: group the records by session and check, per session, canonical form, the hash
 * chain, MACs (with the seed), checkpoints (Merkle roots, signatures, their own chain), sequence gaps
 * (declared or not), duplicates and conflicts, reordering, truncation, time gaps and foreign records.
 */
export function verifySessions(records: readonly ParsedRecord[], opts: VerifyOptions = {}): SessionReport[] {
  const groups = new Map<string, Group>();
  const group = (session: string): Group => {
    let g = groups.get(session);
    if (!g) {
      g = { session, recs: [], problems: [], sources: new Set() };
      groups.set(session, g);
    }
    return g;
  };
  const byHash = new Map<string, Rec>();

  records.forEach((r, index) => {
    const parsed = parseRecord(r, index);
    const hint = hintOf(r);
    if ('reason' in parsed) {
      const g = group(hint ?? parsed.session ?? '(unparsed)');
      if (r.source) g.sources.add(r.source.file);
      g.problems.push({ code: 'malformed', severity: 'error', message: `${parsed.reason}${where(r.source)}`, source: r.source });
      return;
    }
    const rec = parsed.rec;
    const g = group(rec.session);
    if (r.source) g.sources.add(r.source.file);
    g.recs.push(rec);
    if (!byHash.has(rec.hash)) byHash.set(rec.hash, rec);
    if (hint !== undefined && hint !== rec.session) {
      const h = group(hint);
      if (r.source) h.sources.add(r.source.file);
      h.problems.push({
        code: 'foreign_record',
        severity: 'error',
        seq: rec.seq,
        message: `record of session ${rec.session} (seq ${rec.seq}) filed under this session${where(r.source)}`,
        source: r.source,
      });
    }
  });

  const trusted = (opts.trustedPublicKeys ?? []).map((k) => {
    const norm = normalizePublicKey(k);
    if (!norm) throw new TypeError(`trusted public key is not an Ed25519 key: ${k.slice(0, 40)}`);
    return norm;
  });

  // Sessions name the step of the seed ratchet their k0 came from; walk the ratchet once for all.
  const seeds = new Map<number, Buffer>();
  if (opts.macSeed) {
    const wanted = new Set<number>();
    for (const g of groups.values()) {
      const idx = seedIndexOf(g);
      if (idx !== undefined) wanted.add(idx);
    }
    const sorted = [...wanted].sort((a, b) => a - b);
    let s: Buffer = Buffer.from(opts.macSeed);
    let at = 0;
    for (const idx of sorted) {
      while (at < idx) {
        const n = nextSeed(s);
        s.fill(0);
        s = n;
        at++;
      }
      seeds.set(idx, Buffer.from(s));
    }
    s.fill(0);
  }

  try {
    return [...groups.values()].map((g) => verifyGroup(g, opts, trusted, byHash, seeds));
  } finally {
    for (const s of seeds.values()) s.fill(0);
  }
}

/** Largest seed index a session may name (walking the ratchet further would be a denial of service). */
const MAX_SEED_INDEX = 10_000_000;

function startOf(g: Group): Rec | undefined {
  return g.recs.find((r) => r.seq === 0 && r.event === AUDIT_EVENTS.sessionStart);
}

/** The seed index a session's start names (0 when absent), or undefined when there is no valid one. */
function seedIndexOf(g: Group): number | undefined {
  const start = startOf(g);
  if (!start) return undefined;
  const integ = start.data.integrity;
  const idx = isObject(integ) ? (integ.mac_seed_index ?? 0) : 0;
  return typeof idx === 'number' && Number.isSafeInteger(idx) && idx >= 0 && idx <= MAX_SEED_INDEX ? idx : undefined;
}

function verifyGroup(
  g: Group,
  opts: VerifyOptions,
  trusted: string[],
  byHash: Map<string, Rec>,
  seeds: Map<number, Buffer>,
): SessionReport {
  const problems = g.problems;
  const add = (p: Problem) => problems.push(p);

  // --- canonical form -------------------------------------------------------------------------
  for (const r of g.recs) {
    if (!r.canonical) {
      add({ code: 'not_canonical', severity: 'error', seq: r.seq, message: `body is not in RFC 8785 canonical form${where(r.source)}`, source: r.source });
    }
  }

  // --- order of arrival (per source file) --------------------------------------------------------
  const lastSeqByFile = new Map<string, number>();
  let reordered = 0;
  let firstReordered: Rec | undefined;
  const arrived = new Set<string>();
  for (const r of [...g.recs].sort((a, b) => a.index - b.index)) {
    const file = r.source?.file ?? '';
    // A redelivered copy (at-least-once delivery) is a duplicate, reported below, not a reordering.
    const key = `${file}\u0000${r.seq}`;
    if (arrived.has(key)) continue;
    arrived.add(key);
    const last = lastSeqByFile.get(file);
    if (last !== undefined && r.seq < last) {
      reordered++;
      firstReordered ??= r;
    }
    lastSeqByFile.set(file, Math.max(last ?? -1, r.seq));
  }
  if (reordered > 0 && firstReordered) {
    add({
      code: 'reordered',
      // Every sink oi-audit writes keeps order (sync file sink, ordered spool, one-consumer queues), so a
      // record out of order in a file is tampering unless the store is known not to keep order.
      severity: opts.allowReorder ? 'warning' : 'error',
      seq: firstReordered.seq,
      count: reordered,
      message: `${reordered} record(s) arrived after a higher seq (first: seq ${firstReordered.seq}${where(firstReordered.source)}); verified in seq order`,
      source: firstReordered.source,
    });
  }

  // --- duplicates and conflicts ----------------------------------------------------------------
  const bySeq = new Map<number, Rec[]>();
  for (const r of g.recs) {
    const list = bySeq.get(r.seq);
    if (!list) bySeq.set(r.seq, [r]);
    else if (!list.some((x) => x.hash === r.hash)) list.push(r);
    else {
      // identical copy: counted below
    }
  }
  const duplicates = g.recs.length - [...bySeq.values()].reduce((n, l) => n + l.length, 0);
  if (duplicates > 0) {
    add({ code: 'duplicate', severity: 'info', count: duplicates, message: `${duplicates} identical duplicate record(s) (delivered twice); counted once` });
  }
  const seqs = [...bySeq.keys()].sort((a, b) => a - b);

  // --- integrity parameters from the session start ---------------------------------------------
  const startRec = chosenStart(bySeq);
  const integ = startRec && isObject(startRec.data.integrity) ? startRec.data.integrity : undefined;
  const publicKey = typeof integ?.public_key === 'string' ? normalizePublicKey(integ.public_key) : undefined;
  const keyId = typeof integ?.key_id === 'string' ? integ.key_id : undefined;
  const traceId = startRec?.traceId ?? majority(g.recs.map((r) => r.traceId));

  // --- MAC key schedule ------------------------------------------------------------------------
  let mac: SessionReport['mac'] = 'not_checked';
  let k0: Buffer | undefined;
  const seedIndex = seedIndexOf(g);
  const seed = seedIndex === undefined ? undefined : seeds.get(seedIndex);
  if (opts.macSeed && !startRec) {
    add({ code: 'mac_not_checked', severity: 'warning', message: 'MAC not checked: the session start (which names the seed index) is missing' });
  } else if (opts.macSeed && !seed) {
    add({ code: 'bad_commitment', severity: 'error', seq: 0, message: `the session start names no valid mac_seed_index (0..${MAX_SEED_INDEX})` });
    mac = 'wrong_seed';
  } else if (opts.macSeed && seed) {
    k0 = deriveSessionMacKey(seed, g.session);
    const commitment = typeof integ?.mac_commitment === 'string' ? integ.mac_commitment : undefined;
    if (commitment !== undefined && commitment !== macCommitment(k0)) {
      mac = 'wrong_seed';
      add({
        code: 'bad_commitment',
        severity: 'error',
        seq: 0,
        message:
          integ?.mac_seed_ephemeral === true
            ? 'this session was MACed under a per-process seed nobody holds; the seed given does not match its commitment'
            : `the MAC seed given does not match the commitment in the session start (seed id ${String(integ?.mac_seed_id ?? '?')}): wrong seed, or a forged session start`,
      });
      k0 = undefined;
    } else {
      mac = 'checked';
    }
  } else {
    add({
      code: 'mac_not_checked',
      severity: 'info',
      message:
        integ?.mac_seed_ephemeral === true
          ? 'MAC not checked: the session used a per-process MAC seed (no seed configured), which no verifier holds'
          : 'MAC not checked: no MAC seed given',
    });
  }

  // One pass down the ratchet: the MAC of every variant of every present seq, under that seq's key.
  // The key for seq i is derived from the seed, never taken from the stream, so a MAC made with a
  // later key (after a compromise) does not verify for an earlier event (cf. CVE-2023-31439).
  const macOk = new Map<Rec, boolean>();
  if (k0) {
    let k: Buffer = k0;
    let at = 0;
    for (const s of seqs) {
      if (s > MAX_MAC_SEQ) break;
      while (at < s) {
        const n = nextMacKey(k);
        k.fill(0);
        k = n;
        at++;
      }
      for (const r of bySeq.get(s)!) {
        let ok = false;
        try {
          ok = r.mac !== null && macHex(k, macInputOf(r)) === r.mac;
        } catch {
          ok = false; // not canonicalisable (reported as not_canonical)
        }
        macOk.set(r, ok);
      }
    }
    k.fill(0);
  }
  const checkMac = (r: Rec): boolean | undefined => macOk.get(r);

  const chosen = new Map<number, Rec>();
  for (const s of seqs) {
    const variants = bySeq.get(s)!;
    if (variants.length === 1) {
      chosen.set(s, variants[0]!);
      continue;
    }
    const prevRec = chosen.get(s - 1);
    const nextVariants = bySeq.get(s + 1) ?? [];
    const score = (r: Rec) =>
      (checkMac(r) ? 4 : 0) +
      (prevRec && r.prev === prevRec.hash ? 2 : 0) +
      (nextVariants.some((n) => n.prev === r.hash) ? 2 : 0) +
      (r.traceId === traceId ? 1 : 0);
    const best = [...variants].sort((a, b) => score(b) - score(a) || a.index - b.index)[0]!;
    chosen.set(s, best);
    add({
      code: 'conflict',
      severity: 'error',
      seq: s,
      count: variants.length,
      message: `${variants.length} different records claim seq ${s}: ${variants.map((v) => `${v.hash.slice(0, 12)}${where(v.source)}`).join(', ')}`,
      source: variants.find((v) => v !== best)?.source,
    });
  }

  // --- foreign records: another trace, or a prev that belongs to another session ---------------------
  for (const variants of bySeq.values()) {
    for (const r of variants) {
      if (traceId && r.traceId !== traceId) {
        add({
          code: 'foreign_record',
          severity: 'error',
          seq: r.seq,
          message: `seq ${r.seq} belongs to trace ${r.traceId}, the session's trace is ${traceId}${where(r.source)}`,
          source: r.source,
        });
        continue;
      }
      const parent = r.prev === GENESIS_HASH ? undefined : byHash.get(r.prev);
      if (parent && parent.session !== r.session) {
        add({
          code: 'foreign_record',
          severity: 'error',
          seq: r.seq,
          message: `seq ${r.seq} chains onto seq ${parent.seq} of session ${parent.session}${where(r.source)}`,
          source: r.source,
        });
      }
    }
  }

  // --- hash chain ------------------------------------------------------------------------------
  for (const s of seqs) {
    const r = chosen.get(s)!;
    if (s === 0) {
      if (r.prev !== GENESIS_HASH) {
        add({ code: 'hash_mismatch', severity: 'error', seq: 0, message: `seq 0 does not start a chain (prev is not 64 zeros)${where(r.source)}`, source: r.source });
      }
      continue;
    }
    const before = chosen.get(s - 1);
    if (before && r.prev !== before.hash) {
      add({
        code: 'hash_mismatch',
        severity: 'error',
        seq: s - 1,
        message: `the hash of seq ${s - 1} does not match the prev recorded in seq ${s}: seq ${s - 1} (or the link) was altered${where(before.source)}`,
        source: before.source,
      });
    }
  }

  // --- MACs ------------------------------------------------------------------------------------
  let macsValid = 0;
  if (mac === 'checked') {
    for (const s of seqs) {
      const r = chosen.get(s)!;
      const ok = checkMac(r);
      if (ok === undefined) {
        add({ code: 'mac_not_checked', severity: 'warning', seq: s, message: `MAC of seq ${s} not checked (seq beyond ${MAX_MAC_SEQ})` });
      } else if (ok) macsValid++;
      else {
        add({
          code: 'bad_mac',
          severity: 'error',
          seq: s,
          message: `${r.mac === null ? 'no MAC' : 'MAC does not verify'} under the key for seq ${s}${where(r.source)}`,
          source: r.source,
        });
      }
    }
  }

  // --- keys ------------------------------------------------------------------------------------
  let keyTrusted: boolean | undefined;
  let verifyKey: KeyObject | undefined;
  if (trusted.length > 0) {
    keyTrusted = publicKey !== undefined && trusted.includes(publicKey);
    if (publicKey && !keyTrusted) {
      add({ code: 'untrusted_key', severity: 'error', message: `checkpoints are signed with key ${keyId ?? publicKey}, which is not among the trusted public keys` });
    }
    if (keyTrusted && publicKey) verifyKey = parsePublicKey(publicKey);
  } else if (publicKey) {
    verifyKey = parsePublicKey(publicKey);
    add({
      code: 'key_not_pinned',
      severity: 'info',
      message: 'signatures checked against the public key published in the session start; pin trusted keys to rule out a re-signed stream',
    });
  }
  const trustedByKeyId = new Map<string, KeyObject>();
  for (const t of trusted) {
    const k = parsePublicKey(t);
    if (k) trustedByKeyId.set(keyIdOfRaw(t), k);
  }

  // Seqs declared lost by loss events (needed by the checkpoint chain check before the gap report).
  const declaredSeqs = new Set<number>();
  for (const r of chosen.values()) {
    if (r.event !== AUDIT_EVENTS.auditLoss) continue;
    for (const [a, b] of declaredRanges(r.data) ?? []) for (let n = a; n <= b && n - a < 1_000_000; n++) declaredSeqs.add(n);
  }

  // --- checkpoints -----------------------------------------------------------------------------
  const checkpoints = seqs.map((s) => chosen.get(s)!).filter((r) => r.event === AUDIT_EVENTS.integrityCheckpoint);
  let signaturesValid = 0;
  let merkleRootsValid = 0;
  let prevCheckpoint: Rec | undefined;
  let coveredTo = -1;
  for (const cp of checkpoints) {
    const d = cp.data;
    const from = d.from_seq;
    const to = d.to_seq;
    const shapeOk =
      typeof from === 'number' &&
      typeof to === 'number' &&
      Number.isSafeInteger(from) &&
      Number.isSafeInteger(to) &&
      from >= 0 &&
      to >= from - 1 &&
      typeof d.merkle_root === 'string' &&
      typeof d.prev_checkpoint === 'string' &&
      typeof d.sig === 'string';
    if (!shapeOk) {
      add({ code: 'bad_checkpoint', severity: 'error', seq: cp.seq, message: `checkpoint at seq ${cp.seq} lacks from_seq/to_seq/merkle_root/prev_checkpoint/sig${where(cp.source)}`, source: cp.source });
      continue;
    }
    const f = from as number;
    const t = to as number;
    if (t !== cp.seq - 1 || d.epoch !== cp.seq || (typeof d.count === 'number' && d.count !== t - f + 1)) {
      add({ code: 'bad_checkpoint', severity: 'error', seq: cp.seq, message: `checkpoint at seq ${cp.seq} covers ${f}..${t} with epoch ${String(d.epoch)}; expected to end at seq ${cp.seq - 1} with epoch ${cp.seq}${where(cp.source)}`, source: cp.source });
    }
    // Its own chain: from_seq follows the previous checkpoint, prev_checkpoint is that body's hash.
    const expectedFrom = prevCheckpoint ? prevCheckpoint.seq + 1 : undefined;
    if (prevCheckpoint) {
      if (f !== expectedFrom || d.prev_checkpoint !== prevCheckpoint.hash) {
        add({
          code: 'checkpoint_chain',
          // Linking to a checkpoint in between that the stream declared lost breaks no trust: warn.
          severity: f > 0 && f !== expectedFrom && declaredSeqs.has(f - 1) ? 'warning' : 'error',
          seq: cp.seq,
          message: `checkpoint at seq ${cp.seq} does not link to the previous checkpoint at seq ${prevCheckpoint.seq}${f !== expectedFrom ? ` (from_seq ${f}, expected ${expectedFrom})` : ' (prev_checkpoint differs)'}${where(cp.source)}`,
          source: cp.source,
        });
      }
    } else if (f === 0 && d.prev_checkpoint !== GENESIS_HASH) {
      add({ code: 'checkpoint_chain', severity: 'error', seq: cp.seq, message: `first checkpoint (seq ${cp.seq}) does not start the checkpoint chain${where(cp.source)}`, source: cp.source });
    } else if (f > 0 && !chosen.has(f - 1)) {
      add({
        code: 'checkpoint_chain',
        // A checkpoint the stream itself declared lost (spool full, disk full) breaks no trust: warn.
        severity: declaredSeqs.has(f - 1) ? 'warning' : 'error',
        seq: cp.seq,
        message: `the checkpoint before seq ${cp.seq} (at seq ${f - 1}) is missing; the checkpoint chain cannot be followed`,
      });
    } else if (f > 0) {
      add({ code: 'checkpoint_chain', severity: 'error', seq: cp.seq, message: `checkpoint at seq ${cp.seq} starts at ${f}, but seq ${f - 1} is not a checkpoint${where(cp.source)}`, source: cp.source });
    }
    prevCheckpoint = cp;

    // Signature.
    let key = verifyKey;
    if (!key && typeof d.key_id === 'string') key = trustedByKeyId.get(d.key_id);
    if (!key) {
      if (!(trusted.length > 0 && publicKey)) {
        add({ code: 'untrusted_key', severity: 'error', seq: cp.seq, message: `no public key to check the checkpoint at seq ${cp.seq} (key id ${String(d.key_id)}): session start missing and key not pinned` });
      }
    } else {
      let ok = false;
      try {
        ok = verifyText(key, signingInput(cp.obj), d.sig as string);
      } catch {
        ok = false;
      }
      if (ok) signaturesValid++;
      else add({ code: 'bad_signature', severity: 'error', seq: cp.seq, message: `checkpoint signature at seq ${cp.seq} does not verify${where(cp.source)}`, source: cp.source });
    }

    // Merkle root over the covered events.
    const hashes: string[] = [];
    let absent = 0;
    for (let s = f; s <= t; s++) {
      const r = chosen.get(s);
      if (r) hashes.push(r.hash);
      else absent++;
    }
    if (absent > 0) {
      add({ code: 'unverifiable_checkpoint', severity: 'warning', seq: cp.seq, message: `Merkle root at seq ${cp.seq} not recomputed: ${absent} of the ${t - f + 1} records it covers are missing` });
    } else if (eventsMerkleRoot(hashes) === d.merkle_root) {
      merkleRootsValid++;
    } else {
      add({ code: 'merkle_mismatch', severity: 'error', seq: cp.seq, from: f, to: t, message: `Merkle root at seq ${cp.seq} does not match records ${f}..${t}${where(cp.source)}`, source: cp.source });
    }
    coveredTo = Math.max(coveredTo, cp.seq);
  }

  // --- gaps, declared losses -------------------------------------------------------------------
  const declared: Array<[number, number]> = [];
  let declaredLost = 0;
  for (const s of seqs) {
    const r = chosen.get(s)!;
    if (r.event !== AUDIT_EVENTS.auditLoss) continue;
    const ranges = declaredRanges(r.data);
    const lost = typeof r.data.lost === 'number' ? r.data.lost : undefined;
    if (ranges) {
      declared.push(...ranges);
      declaredLost += ranges.reduce((n, [a, b]) => n + (b - a + 1), 0);
    } else {
      declaredLost += lost ?? 0;
      add({
        code: 'declared_loss',
        severity: 'warning',
        seq: s,
        count: lost,
        message: `seq ${s} declares ${lost ?? 'an unknown number of'} event(s) lost before sealing${typeof r.data.reason === 'string' ? ` (${r.data.reason})` : ''}`,
      });
    }
  }
  const missing: SessionReport['missing'] = [];
  let expect = 0;
  for (const s of seqs) {
    if (s > expect) missing.push(...splitDeclared(expect, s - 1, declared));
    expect = s + 1;
  }
  for (const m of missing) {
    const range = m.from === m.to ? `${m.from}` : `${m.from}..${m.to}`;
    const cpNote = checkpoints.some((c) => typeof c.data.from_seq === 'number' && c.data.from_seq - 1 >= m.from && c.data.from_seq - 1 <= m.to && c.data.from_seq > 0)
      ? ' (includes a checkpoint)'
      : '';
    add({
      code: 'missing',
      severity: m.declared ? 'warning' : 'error',
      from: m.from,
      to: m.to,
      declared: m.declared,
      message: m.declared ? `missing ${range}: declared lost by an audit.loss event` : `missing ${range}${cpNote}`,
    });
  }

  // --- end, truncation -------------------------------------------------------------------------
  const lastSeq = seqs.length ? seqs[seqs.length - 1]! : undefined;
  const endRec = seqs.map((s) => chosen.get(s)!).find((r) => r.event === AUDIT_EVENTS.sessionEnd);
  const ended = endRec !== undefined;
  let complete = false;
  if (lastSeq !== undefined) {
    if (!endRec) {
      add({
        code: opts.allowOpen ? 'open' : 'truncated',
        severity: opts.allowOpen ? 'warning' : 'error',
        seq: lastSeq,
        message: opts.allowOpen
          ? `no session end yet; last record is seq ${lastSeq}`
          : `truncated after seq ${lastSeq}: no session end event${coveredTo < lastSeq ? `, and seqs ${coveredTo + 1}..${lastSeq} are not covered by a checkpoint` : ''}`,
      });
    } else if (coveredTo < endRec.seq) {
      add({
        code: 'truncated',
        severity: 'error',
        seq: lastSeq,
        message: `truncated after seq ${lastSeq}: the session end (seq ${endRec.seq}) is not covered by a signed checkpoint`,
      });
    } else {
      complete = true;
    }
    if (endRec) {
      const finalCp = checkpoints.find((c) => c.seq > endRec.seq);
      for (const s of seqs) {
        if (finalCp && s > finalCp.seq) {
          const r = chosen.get(s)!;
          add({ code: 'after_end', severity: 'error', seq: s, message: `seq ${s} comes after the session's final checkpoint${where(r.source)}`, source: r.source });
        }
      }
    }
  }

  // --- time ------------------------------------------------------------------------------------
  let prevTime: { seq: number; ms: number } | undefined;
  for (const s of seqs) {
    const r = chosen.get(s)!;
    const ms = Date.parse(r.ts);
    if (Number.isNaN(ms)) {
      add({ code: 'malformed', severity: 'error', seq: s, message: `ts "${r.ts.slice(0, 40)}" is not a timestamp${where(r.source)}`, source: r.source });
      continue;
    }
    if (prevTime && prevTime.seq === s - 1) {
      const dt = ms - prevTime.ms;
      if (opts.maxGapMs !== undefined && dt > opts.maxGapMs) {
        add({ code: 'time_gap', severity: 'warning', from: prevTime.seq, to: s, message: `${formatMs(dt)} between seq ${prevTime.seq} and seq ${s}` });
      }
      if (dt < -1000) {
        add({ code: 'clock_skew', severity: 'info', from: prevTime.seq, to: s, message: `seq ${s} is ${formatMs(-dt)} earlier than seq ${prevTime.seq}` });
      }
    }
    prevTime = { seq: s, ms };
  }

  problems.sort((a, b) => (a.seq ?? a.from ?? -1) - (b.seq ?? b.from ?? -1));
  const first = seqs.length ? chosen.get(seqs[0]!) : undefined;
  const last = lastSeq !== undefined ? chosen.get(lastSeq) : undefined;
  const report: SessionReport = {
    session: g.session,
    status: problems.some((p) => p.severity === 'error') ? 'invalid' : 'valid',
    records: seqs.length,
    ended,
    complete,
    checkpoints: checkpoints.length,
    signaturesValid,
    merkleRootsValid,
    mac,
    macsValid,
    duplicates,
    missing,
    declaredLost,
    problems,
    sources: [...g.sources].sort(),
  };
  if (first) {
    report.firstSeq = first.seq;
    report.firstTs = first.ts;
  }
  if (last) {
    report.lastSeq = last.seq;
    report.lastTs = last.ts;
  }
  if (publicKey) report.publicKey = publicKey;
  if (keyId) report.keyId = keyId;
  if (keyTrusted !== undefined) report.keyTrusted = keyTrusted;
  return report;
}

/** The session start at seq 0 (the first such record when several conflict). */
function chosenStart(bySeq: Map<number, Rec[]>): Rec | undefined {
  return bySeq.get(0)?.find((r) => r.event === AUDIT_EVENTS.sessionStart);
}

function keyIdOfRaw(rawOrAny: string): string {
  const raw = normalizePublicKey(rawOrAny);
  return raw ? sha256Hex(Buffer.from(raw, 'base64')).slice(0, 16) : '';
}

function majority(values: string[]): string | undefined {
  const counts = new Map<string, number>();
  let best: string | undefined;
  let bestN = 0;
  for (const v of values) {
    const n = (counts.get(v) ?? 0) + 1;
    counts.set(v, n);
    if (n > bestN) {
      best = v;
      bestN = n;
    }
  }
  return best;
}

/** Split the gap a..b into declared and undeclared parts. */
function splitDeclared(a: number, b: number, declared: Array<[number, number]>): Array<{ from: number; to: number; declared: boolean }> {
  const cover = declared
    .filter(([x, y]) => y >= a && x <= b)
    .map(([x, y]) => [Math.max(x, a), Math.min(y, b)] as [number, number])
    .sort((p, q) => p[0] - q[0]);
  const out: Array<{ from: number; to: number; declared: boolean }> = [];
  let at = a;
  for (const [x, y] of cover) {
    if (y < at) continue;
    if (x > at) out.push({ from: at, to: x - 1, declared: false });
    const start = Math.max(x, at);
    const last = out[out.length - 1];
    if (last && last.declared && last.to === start - 1) last.to = y;
    else out.push({ from: start, to: y, declared: true });
    at = y + 1;
  }
  if (at <= b) out.push({ from: at, to: b, declared: false });
  return out;
}

function formatMs(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 7_200_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
