import { AUDIT_EVENTS } from '../semconv/events.js';
import { normalizePublicKey } from '../keys/integrity-keys.js';
import { checkCheckpoints, resolveKeys, type CheckpointFinding, type KeyFindings } from './checks/checkpoints.js';
import { checkForeign, chooseRecords, sessionTrace } from './checks/choose.js';
import { checkCoverage, type Coverage } from './checks/coverage.js';
import { checkHashChain } from './checks/chain.js';
import { checkEnd, checkGaps } from './checks/end.js';
import { buildLedger, parseDeclarations, type LossDeclaration, type LossLedger } from './checks/losses.js';
import { checkMacs, startParams, walkSeeds, type MacFindings, type StartParams } from './checks/mac.js';
import { checkArrivalOrder, checkCanonical, indexBySeq } from './checks/order.js';
import { groupRecords, where, type Group, type Rec } from './checks/records.js';
import { checkTime } from './checks/time.js';
import { linkHashOfBody } from '../integrity/link.js';
import { VERIFY_LIMITS, type ParsedRecord, type Problem, type SessionReport, type VerifyOptions } from './types.js';

export { VERIFY_LIMITS } from './types.js';
export type { ParsedRecord, Problem, ProblemCode, RecordSource, SessionReport, Severity, VerifyOptions } from './types.js';

/**
 * Verification of audit streams from their bodies alone (no I/O here: readers in src/read/ turn
 * files, gzip and Loki output into ParsedRecords). Reports per session, in the manner of
 * `aws cloudtrail validate-logs`: what is valid, what is not, and where. The checks are phases in
 * src/verify/checks/, each returning typed findings; this file orders them and applies the rule
 * that gives keys their meaning: with a MAC seed or pinned keys, every record must be authenticated
 * by them (docs/integrity.md §7).
 */
export function verifySessions(records: readonly ParsedRecord[], opts: VerifyOptions = {}): SessionReport[] {
  const { groups, byHash } = groupRecords(records);
  const links = schemeLinks(groups.values(), byHash);
  const trusted = (opts.trustedPublicKeys ?? []).map((k) => {
    const norm = normalizePublicKey(k);
    if (!norm) throw new TypeError(`trusted public key is not an Ed25519 key: ${k.slice(0, 40)}`);
    return norm;
  });
  // Sessions name the step of the seed ratchet their k0 came from; walk the ratchet once for all.
  const seeds = opts.macSeed ? walkSeeds(opts.macSeed, groups.values()) : undefined;
  try {
    return [...groups.values()].map((g) => verifyGroup(g, opts, trusted, byHash, seeds, links));
  } finally {
    for (const s of seeds?.values() ?? []) s.fill(0);
  }
}

interface Evidence {
  ledger: LossLedger;
  findings: CheckpointFinding[];
  coverage: Coverage;
  trustedDecls: LossDeclaration[];
  problems: Problem[];
}

interface EvidenceInput {
  chosen: Map<number, Rec>;
  seqs: number[];
  start: StartParams;
  macs: MacFindings;
  keys: KeyFindings;
  seeded: boolean;
  opts: VerifyOptions;
}

/**
 * Chain, checkpoints and coverage, with the loss declarations that are authenticated. A declaration
 * is trusted only when its MAC verifies (with a seed) or, without one, a verified checkpoint proves it; the
 * hashes it declares stand in for the records it names. One that is not authenticated is a forgery:
 * it is dropped and the phases run again without it (at most once per declaration).
 */
function checkEvidence(x: EvidenceInput): Evidence {
  const decls = parseDeclarations(x.chosen, x.seqs, x.start.scheme);
  const problems: Problem[] = [];
  for (const d of decls) {
    if (d.invalid) problems.push(forged(d.rec, d.invalid));
  }
  let trusted = decls.filter((d) => !d.invalid);
  for (;;) {
    const ledger = buildLedger(trusted, x.chosen);
    const declaredCount = trusted.reduce((n, d) => n + d.ranges.reduce((m, r) => m + (r.hashes?.length ?? 0), 0), 0);
    const leaves = { chosen: x.chosen, seqs: x.seqs, declaredHash: ledger.hashOf, inV1Range: ledger.inV1Range, v1Overlap: ledger.v1Overlap, declaredCount };
    const chain = checkHashChain(x.chosen, x.seqs, ledger.hashOf);
    const cps = checkCheckpoints(leaves, x.keys);
    const ended = x.seqs.some((s) => x.chosen.get(s)!.event === AUDIT_EVENTS.sessionEnd);
    const coverage = checkCoverage({
      chosen: x.chosen,
      seqs: x.seqs,
      findings: cps.findings,
      ...(x.seeded ? { macOk: x.macs.macOk } : {}),
      isDeclared: (s) => ledger.hashOf(s) !== undefined || ledger.inV1Range(s),
      allowOpen: x.opts.allowOpen === true,
      ended,
    });
    const unauthenticated = trusted.filter((d) => !declarationAuthenticated(d.rec, x, coverage));
    if (unauthenticated.length === 0) {
      return { ledger, findings: cps.findings, coverage, trustedDecls: trusted, problems: [...problems, ...ledger.problems, ...chain, ...cps.problems, ...coverage.problems] };
    }
    for (const d of unauthenticated) {
      problems.push(forged(d.rec, x.seeded && x.macs.macOk.get(d.rec) !== true ? 'its MAC does not verify' : 'no checkpoint whose signature and Merkle root verify proves it'));
    }
    trusted = trusted.filter((d) => !unauthenticated.includes(d));
  }
}

function declarationAuthenticated(rec: Rec, x: EvidenceInput, coverage: Coverage): boolean {
  if (!x.start.start) return false;
  // Its MAC needs the seed: only the writer could have made it. Without a seed, only a checkpoint
  // that verifies can vouch for it. (Coverage is required of every record anyway: see checkCoverage.)
  if (x.seeded) return x.macs.macOk.get(rec) === true;
  return coverage.covered.has(rec.seq);
}

function forged(rec: Rec, why: string): Problem {
  return {
    code: 'forged_loss',
    severity: 'error',
    seq: rec.seq,
    message: `loss declaration at seq ${rec.seq} is not authentic: ${why}; the seqs it names count as undeclared${where(rec.source)}`,
    source: rec.source,
  };
}

/** With a seed every record's MAC must verify: a bad MAC, or one past the limit, is an error. */
function macVerdicts(chosen: Map<number, Rec>, seqs: readonly number[], macs: MacFindings): { problems: Problem[]; valid: number } {
  const problems: Problem[] = [];
  let valid = 0;
  if (macs.mac !== 'checked') return { problems, valid };
  let beyond: number | undefined;
  for (const s of seqs) {
    const r = chosen.get(s)!;
    const ok = macs.macOk.get(r);
    if (ok === undefined) beyond ??= s;
    else if (ok) valid++;
    else problems.push({ code: 'bad_mac', severity: 'error', seq: s, message: `${r.mac === null ? 'no MAC' : 'MAC does not verify'} under the key for seq ${s}${where(r.source)}`, source: r.source });
  }
  if (beyond !== undefined) {
    problems.push({ code: 'limit', severity: 'error', seq: beyond, message: `MACs from seq ${beyond} on not checked: beyond the limit of seq ${VERIFY_LIMITS.maxMacSeq} (one HMAC per seq)` });
  }
  return { problems, valid };
}

/** What the keys given can and cannot vouch for, said once per session. */
function authenticationNotes(start: StartParams, seeded: boolean, pinned: boolean, decls: readonly LossDeclaration[], opts: VerifyOptions): Problem[] {
  const out: Problem[] = [];
  if (!start.start) {
    out.push({ code: 'missing_start', severity: 'error', seq: 0, message: 'the session start (seq 0) is missing: it carries the MAC commitment and the signing key, so the session cannot be authenticated' });
  }
  if (!seeded && !pinned) {
    out.push({
      code: 'unauthenticated',
      severity: opts.allowUnauthenticated ? 'warning' : 'error',
      message:
        'NOT AUTHENTICATED: no MAC seed (--key) and no pinned public key (--public-key). The hash chain and the key the stream publishes itself show only that the trail is consistent with itself, which anyone rewriting it can also achieve',
    });
  }
  if (start.scheme === 1) {
    const v1Losses = decls.some((d) => d.kind === 'v1');
    out.push({
      code: 'scheme_v1',
      severity: v1Losses ? 'warning' : 'info',
      message: `integrity scheme v1: loss declarations carry no hashes of what they declare lost${v1Losses ? ', so the chain and the Merkle roots across the declared gaps here cannot be recomputed' : ''}`,
    });
  }
  return out;
}

/**
 * Scheme 3 links records by D (SHA-256 of the body with `mac` null and a checkpoint's `sig` blank), not
 * by the hash of the whole body. Which scheme a session uses is what its start says, so a start that
 * lies about it breaks its own MAC and the links that follow (docs/integrity.md §10). The D of each
 * record of a v3 session, also entered into byHash so a record chained onto another session's is found.
 */
function schemeLinks(groups: Iterable<Group>, byHash: Map<string, Rec>): Map<Rec, string> {
  const links = new Map<Rec, string>();
  for (const g of groups) {
    const start = g.recs.find((r) => r.seq === 0 && r.event === AUDIT_EVENTS.sessionStart);
    const integ = start?.data.integrity;
    const claimsV3 = typeof integ === 'object' && integ !== null && !Array.isArray(integ) && integ.scheme === 3;
    if (start && !claimsV3) continue;
    const mine = new Map<Rec, string>();
    for (const r of g.recs) {
      try {
        mine.set(r, linkHashOfBody(r.obj));
      } catch {
        // not canonicalisable: reported as not_canonical; its body hash links to nothing
      }
    }
    // Without a start (deleted by retention, lost) the records say which links they use. A wrong guess
    // cannot help a forger: the signed Merkle roots were made over the writer's links.
    if (!start && !linksAsV3(g.recs, mine)) continue;
    for (const [r, d] of mine) {
      links.set(r, d);
      if (!byHash.has(d)) byHash.set(d, r);
    }
  }
  return links;
}

/** True when more records chain onto their predecessor's D than onto its body hash. */
function linksAsV3(recs: readonly Rec[], d: Map<Rec, string>): boolean {
  const bySeq = new Map<number, Rec>();
  for (const r of recs) bySeq.set(r.seq, r);
  let v3 = 0;
  let v2 = 0;
  for (const r of recs) {
    const before = bySeq.get(r.seq - 1);
    if (!before) continue;
    if (r.prev === d.get(before)) v3++;
    else if (r.prev === before.hash) v2++;
  }
  return v3 > v2;
}

function verifyGroup(
  g: Group,
  opts: VerifyOptions,
  trusted: string[],
  byHash: Map<string, Rec>,
  seeds: Map<number, Buffer> | undefined,
  links: Map<Rec, string>,
): SessionReport {
  const problems: Problem[] = [...g.problems, ...checkCanonical(g.recs), ...checkArrivalOrder(g.recs, opts.allowReorder === true)];
  // Variants of a seq are told apart by the hash of the whole body (a MAC or signature swapped in is a
  // conflict, not a duplicate); only then does a v3 record's hash become its link D.
  const idx = indexBySeq(g.recs);
  problems.push(...idx.problems);
  for (const r of g.recs) {
    const d = links.get(r);
    if (d !== undefined) r.hash = d;
  }
  const start = startParams(idx.bySeq);
  const macs = checkMacs(g, idx.bySeq, idx.seqs, start, seeds);
  problems.push(...macs.problems);
  const traceId = sessionTrace(start.start, g.recs);
  const { chosen, problems: conflicts } = chooseRecords(idx.bySeq, idx.seqs, macs.macOk, traceId);
  problems.push(...conflicts, ...checkForeign(idx.bySeq, traceId, byHash));
  const verdicts = macVerdicts(chosen, idx.seqs, macs);
  problems.push(...verdicts.problems);
  const keys = resolveKeys(start, trusted);
  problems.push(...keys.problems);
  const seeded = seeds !== undefined;
  const ev = checkEvidence({ chosen, seqs: idx.seqs, start, macs, keys, seeded, opts });
  problems.push(...ev.problems);
  const gaps = checkGaps(idx.seqs, ev.ledger.ranges, ev.findings.map((f) => f.from));
  problems.push(...gaps.problems);
  let declaredLost = unionSize(ev.ledger.ranges);
  for (const d of ev.trustedDecls) {
    if (d.ranges.length === 0) {
      declaredLost += d.lost ?? 0;
      problems.push({
        code: 'declared_loss',
        severity: 'warning',
        seq: d.rec.seq,
        ...(d.lost !== undefined ? { count: d.lost } : {}),
        message: `seq ${d.rec.seq} declares ${d.lost ?? 'an unknown number of'} event(s) lost before sealing${typeof d.rec.data.reason === 'string' ? ` (${d.rec.data.reason.slice(0, 80)})` : ''}`,
      });
    }
  }
  const end = checkEnd(chosen, idx.seqs, ev.findings, opts.allowOpen === true);
  problems.push(...end.problems, ...checkTime(chosen, idx.seqs, opts.maxGapMs));
  problems.push(...authenticationNotes(start, seeded, keys.pinned, ev.trustedDecls, opts));
  problems.sort((a, b) => (a.seq ?? a.from ?? -1) - (b.seq ?? b.from ?? -1));

  const first = idx.seqs.length ? chosen.get(idx.seqs[0]!) : undefined;
  const last = idx.seqs.length ? chosen.get(idx.seqs[idx.seqs.length - 1]!) : undefined;
  const report: SessionReport = {
    session: g.session,
    status: problems.some((p) => p.severity === 'error') ? 'invalid' : 'valid',
    authenticatedBy: seeded && keys.pinned ? 'mac+pinned_key' : seeded ? 'mac' : keys.pinned ? 'pinned_key' : 'none',
    records: idx.seqs.length,
    ended: end.ended,
    complete: end.complete,
    checkpoints: ev.findings.length,
    signaturesValid: ev.findings.filter((f) => f.sigOk).length,
    merkleRootsValid: ev.findings.filter((f) => f.merkle === 'ok').length,
    mac: macs.mac,
    macsValid: verdicts.valid,
    duplicates: idx.duplicates,
    missing: gaps.missing,
    declaredLost,
    problems,
    sources: [...g.sources].sort(),
  };
  if (start.scheme !== undefined) report.scheme = start.scheme;
  if (first) {
    report.firstSeq = first.seq;
    report.firstTs = first.ts;
  }
  if (last) {
    report.lastSeq = last.seq;
    report.lastTs = last.ts;
  }
  if (start.publicKey) report.publicKey = start.publicKey;
  if (start.keyId) report.keyId = start.keyId;
  if (keys.keyTrusted !== undefined) report.keyTrusted = keys.keyTrusted;
  return report;
}

/** Number of seqs in a union of ranges (a seq declared twice counts once). */
function unionSize(ranges: ReadonlyArray<[number, number]>): number {
  let n = 0;
  let at = -1;
  for (const [a, b] of [...ranges].sort((p, q) => p[0] - q[0])) {
    const from = Math.max(a, at + 1);
    if (b >= from) n += b - from + 1;
    at = Math.max(at, b);
  }
  return n;
}
