import { canonicalize, type JsonObject } from '../../record/canonical-json.js';
import { deriveSessionMacKey, macCommitment, nextSeed, normalizePublicKey } from '../../keys/integrity-keys.js';
import { macHex, nextMacKey } from '../../integrity/ratchet.js';
import { AUDIT_EVENTS } from '../../semconv/events.js';
import { VERIFY_LIMITS, type Problem, type SessionReport } from '../types.js';
import { isObject } from '../../record/json-shape.js';
import type { Group, Rec } from './records.js';
import { fieldText } from '../../record/field-text.js';

/** What the session start (seq 0) publishes about the integrity of the session. */
export interface StartParams {
  start?: Rec;
  integ?: JsonObject;
  publicKey?: string;
  keyId?: string;
  /** Integrity scheme (1 when the start names none: trails written before v2). */
  scheme?: number;
}

export function startParams(bySeq: Map<number, Rec[]>): StartParams {
  const start = bySeq.get(0)?.find((r) => r.event === AUDIT_EVENTS.sessionStart);
  if (!start) return {};
  const integ = isObject(start.data.integrity) ? start.data.integrity : undefined;
  const scheme = typeof integ?.scheme === 'number' && Number.isSafeInteger(integ.scheme) ? integ.scheme : 1;
  const out: StartParams = { start, scheme };
  if (integ) out.integ = integ;
  if (typeof integ?.public_key === 'string') {
    const k = normalizePublicKey(integ.public_key);
    if (k) out.publicKey = k;
  }
  if (typeof integ?.key_id === 'string') out.keyId = integ.key_id;
  return out;
}

/** The seed index a session's start names (0 when absent), or undefined when there is no valid one. */
export function seedIndexOf(g: Group): number | undefined {
  const start = g.recs.find((r) => r.seq === 0 && r.event === AUDIT_EVENTS.sessionStart);
  if (!start) return undefined;
  const integ = start.data.integrity;
  const idx = isObject(integ) ? (integ.mac_seed_index ?? 0) : 0;
  return typeof idx === 'number' && Number.isSafeInteger(idx) && idx >= 0 && idx <= VERIFY_LIMITS.maxSeedIndex ? idx : undefined;
}

/** Walk the seed ratchet once for all sessions: seed[j] for every index some session names. */
export function walkSeeds(macSeed: Buffer, groups: Iterable<Group>): Map<number, Buffer> {
  const wanted = new Set<number>();
  for (const g of groups) {
    const idx = seedIndexOf(g);
    if (idx !== undefined) wanted.add(idx);
  }
  const seeds = new Map<number, Buffer>();
  let s: Buffer = Buffer.from(macSeed);
  let at = 0;
  for (const idx of [...wanted].sort((a, b) => a - b)) {
    while (at < idx) {
      const n = nextSeed(s);
      s.fill(0);
      s = n;
      at++;
    }
    seeds.set(idx, Buffer.from(s));
  }
  s.fill(0);
  return seeds;
}

export interface MacFindings {
  mac: SessionReport['mac'];
  /** MAC verdict of every variant of every present seq up to the limit (absent: not checked). */
  macOk: Map<Rec, boolean>;
  problems: Problem[];
}

/**
 * The session's MAC key k0 from the seed (checked against the start's commitment), then one pass
 * down the ratchet: the MAC of every variant of every present seq under that seq's key. The key
 * for seq i is derived from the seed, never taken from the stream, so a MAC made with a later key
 * (after a compromise) does not verify for an earlier event (cf. CVE-2023-31439).
 */
export function checkMacs(g: Group, bySeq: Map<number, Rec[]>, seqs: readonly number[], p: StartParams, seeds: Map<number, Buffer> | undefined): MacFindings {
  const problems: Problem[] = [];
  const macOk = new Map<Rec, boolean>();
  if (!seeds) {
    problems.push({
      code: 'mac_not_checked',
      severity: 'info',
      message:
        p.integ?.mac_seed_ephemeral === true
          ? 'MAC not checked: the session used a per-process MAC seed (no seed configured), which no verifier holds'
          : 'MAC not checked: no MAC seed given',
    });
    return { mac: 'not_checked', macOk, problems };
  }
  // Without the start there is no k0: nothing of this session can be MAC-checked (the caller reports missing_start).
  if (!p.start) return { mac: 'not_checked', macOk, problems };
  const index = seedIndexOf(g);
  const seed = index === undefined ? undefined : seeds.get(index);
  if (!seed) {
    problems.push({ code: 'bad_commitment', severity: 'error', seq: 0, message: `the session start names no valid mac_seed_index (0..${VERIFY_LIMITS.maxSeedIndex})` });
    return { mac: 'wrong_seed', macOk, problems };
  }
  const k0 = deriveSessionMacKey(seed, g.session);
  const commitment = typeof p.integ?.mac_commitment === 'string' ? p.integ.mac_commitment : undefined;
  if (commitment !== macCommitment(k0)) {
    k0.fill(0);
    problems.push({
      code: 'bad_commitment',
      severity: 'error',
      seq: 0,
      message:
        commitment === undefined
          ? 'the session start carries no MAC commitment: the seed cannot be checked against it'
          : p.integ?.mac_seed_ephemeral === true
            ? 'this session was MACed under a per-process seed nobody holds; the seed given does not match its commitment'
            : `the MAC seed given does not match the commitment in the session start (seed id ${fieldText(p.integ?.mac_seed_id ?? '?').slice(0, 40)}): wrong seed, or a forged session start`,
    });
    return { mac: 'wrong_seed', macOk, problems };
  }
  let k: Buffer = k0;
  let at = 0;
  for (const s of seqs) {
    if (s > VERIFY_LIMITS.maxMacSeq) break;
    while (at < s) {
      const n = nextMacKey(k);
      k.fill(0);
      k = n;
      at++;
    }
    for (const r of bySeq.get(s)!) {
      let ok: boolean;
      try {
        ok = r.mac !== null && macHex(k, canonicalize({ ...r.obj, mac: null })) === r.mac;
      } catch {
        ok = false; // not canonicalisable (reported as not_canonical)
      }
      macOk.set(r, ok);
    }
  }
  k.fill(0);
  return { mac: 'checked', macOk, problems };
}
