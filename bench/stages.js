/**
 * Part 1, stage breakdown: each stage of one audit event timed in isolation on the same content, in
 * µs per operation (median of 5 timed batches after warm-up), plus the redactor's marginal cost per
 * rule: alone (a one-rule table, minus the empty table) and marginal (full table minus the table without
 * it; noisier). Not a ratio figure; it says where the time of an audit event goes.
 *
 * Usage: node --expose-gc bench/stages.js [--size 1024] [--iterations 3000] [--no-rules]
 */
import { SeverityNumber } from '@opentelemetry/api-logs';
import { JsonLogsSerializer } from '@opentelemetry/otlp-transformer';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import { captureContent } from '../dist/audit/content.js';
import { canonicalize } from '../dist/record/canonical-json.js';
import { escapeForLog } from '../dist/record/escape.js';
import { sha256Hex } from '../dist/integrity/hash.js';
import { SessionChain } from '../dist/integrity/chain.js';
import { createDefaultRedactor, createRedactor, DEFAULT_RULES } from '../dist/redact/rules.js';
import { AUDIT_EVENTS } from '../dist/semconv/events.js';
import { makeContents } from './lib/content.js';
import { benchResource } from './lib/otel.js';
import { percentile } from './lib/stats.js';
import { emitResult, gc, parseArgs } from './lib/worker.js';

const args = parseArgs();
const size = Number(args.size ?? 1024);
const iterations = Number(args.iterations ?? 3000);
const contents = makeContents(size, 64, size);

/** µs per call of fn(i): median of 5 batches of `n` calls after one warm-up batch. */
function time(fn, n = iterations) {
  for (let i = 0; i < n; i++) fn(i);
  const batches = [];
  for (let b = 0; b < 5; b++) {
    gc();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    batches.push(((performance.now() - t0) * 1000) / n);
  }
  return percentile(batches, 50);
}

const redactor = createDefaultRedactor();
const stage = { mode: 'redacted', redactor, maxBytes: 65536 };
const captured = contents.map((c) => captureContent(c, stage));
const data = captured.map((c) => ({ turn: 0, content: c }));
const ctx = { ts: new Date().toISOString(), traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' };

// Records as the SDK hands them to the exporter: collected by a processor that keeps them.
function collectRecords(n, makeBody, attrs) {
  const kept = [];
  const provider = new LoggerProvider({
    resource: benchResource(),
    processors: [{ onEmit: (r) => kept.push(r), forceFlush: async () => undefined, shutdown: async () => undefined }],
  });
  const logger = provider.getLogger('oi-audit', '0.1.0');
  for (let i = 0; i < n; i++) {
    logger.emit({ eventName: AUDIT_EVENTS.assistantMessage, timestamp: Date.now(), severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: makeBody(i), attributes: attrs(i) });
  }
  // Later emits through `logger` (the emit stage) must not grow the batch the serialiser stage uses.
  return { kept: kept.slice(0, n), logger };
}

const chain = new SessionChain({ sessionId: 'b6a9c3f2-3d4e-4f5a-8b7c-1d2e3f4a5b6c' });
const sealedBodies = data.map((d) => chain.seal(AUDIT_EVENTS.assistantMessage, d, ctx).body);
const auditAttrs = (i) => ({ 'oi_audit.session.id': 'b6a9c3f2-3d4e-4f5a-8b7c-1d2e3f4a5b6c', 'enduser.pseudo.id': 'p-0123456789abcdef', 'event.name': AUDIT_EVENTS.assistantMessage, 'oi_audit.event.seq': i });
const audited = collectRecords(512, (i) => sealedBodies[i & 63], auditAttrs);
const bare = collectRecords(512, (i) => contents[i & 63], () => undefined);

const stages = [];
const add = (name, us, note) => stages.push({ stage: name, us, ...(note ? { note } : {}) });
add('sha256Hex(content)', time((i) => sha256Hex(contents[i & 63])));
add('redactor.redact(content), full rule table', time((i) => redactor.redact(contents[i & 63])));
add('escapeForLog(content)', time((i) => escapeForLog(contents[i & 63])));
add('captureContent (hash + redact + escape + truncate)', time((i) => captureContent(contents[i & 63], stage)));
add('canonicalize(event data) (RFC 8785)', time((i) => canonicalize(data[i & 63])));
{
  const c = new SessionChain({ sessionId: 'b6a9c3f2-3d4e-4f5a-8b7c-1d2e3f4a5b6c' });
  // Checkpoint every 100 seals, as the event log does, so pending hashes stay bounded; reported apart below.
  add('SessionChain.seal, scheme 3 (canonicalise + D = SHA-256 of body + HMAC(k, D) + ratchet + Merkle append)', time((i) => {
    c.seal(AUDIT_EVENTS.assistantMessage, data[i & 63], ctx);
    if (i % 100 === 99) c.sealCheckpoint('count', ctx);
  }) - 0);
  // The previous writer, same process, for comparison: HMAC over the whole body, then SHA-256 of the body with its MAC.
  const cv2 = new SessionChain({ sessionId: 'b6a9c3f2-3d4e-4f5a-8b7c-1d2e3f4a5b6c', scheme: 2 });
  add('SessionChain.seal, scheme 2 (canonicalise + HMAC over body + ratchet + SHA-256 of body + Merkle append)', time((i) => {
    cv2.seal(AUDIT_EVENTS.assistantMessage, data[i & 63], ctx);
    if (i % 100 === 99) cv2.sealCheckpoint('count', ctx);
  }) - 0);
  // A checkpoint alone: 100 seals untimed, then the checkpoint timed (the Merkle leaves and merges
  // are made as events are sealed, so what is left is folding the subtree roots and signing).
  const c2 = new SessionChain({ sessionId: 'b6a9c3f2-3d4e-4f5a-8b7c-1d2e3f4a5b6c' });
  const checkpointUs = [];
  for (let b = 0; b < Math.max(40, Math.floor(iterations / 50)); b++) {
    for (let k = 0; k < 100; k++) c2.seal(AUDIT_EVENTS.assistantMessage, data[(b + k) & 63], ctx);
    const t0 = performance.now();
    c2.sealCheckpoint('count', ctx);
    if (b >= 5) checkpointUs.push((performance.now() - t0) * 1000);
  }
  const perCheckpoint = percentile(checkpointUs, 50);
  add('sealCheckpoint (fold the Merkle subtrees + Ed25519 + seal), per checkpoint', perCheckpoint, 'every 100th event; ÷100 per event');
  // Scheme 3 splits it: beginCheckpoint (on the emitting call) and sign() (after it, in a microtask).
  const c3 = new SessionChain({ sessionId: 'b6a9c3f2-3d4e-4f5a-8b7c-1d2e3f4a5b6c' });
  const beginUs = [];
  const signUs = [];
  for (let b = 0; b < Math.max(40, Math.floor(iterations / 50)); b++) {
    for (let k = 0; k < 100; k++) c3.seal(AUDIT_EVENTS.assistantMessage, data[(b + k) & 63], ctx);
    const t0 = performance.now();
    const pending = c3.beginCheckpoint('count', ctx);
    const t1 = performance.now();
    pending.sign();
    const t2 = performance.now();
    if (b >= 5) {
      beginUs.push((t1 - t0) * 1000);
      signUs.push((t2 - t1) * 1000);
    }
  }
  add('beginCheckpoint, scheme 3 (fold + D + HMAC: on the emitting call), per checkpoint', percentile(beginUs, 50), 'every 100th event');
  add('PendingCheckpoint.sign, scheme 3 (Ed25519 + body: off the emitting call), per checkpoint', percentile(signUs, 50), 'in a microtask after the call');
}
add('OTel logger.emit (audited record, 4 attributes), processor no-op', time((i) => audited.logger.emit({ eventName: AUDIT_EVENTS.assistantMessage, timestamp: Date.now(), severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: sealedBodies[i & 63], attributes: auditAttrs(i) })));
add('OTel logger.emit (bare record), processor no-op', time((i) => bare.logger.emit({ eventName: AUDIT_EVENTS.assistantMessage, timestamp: Date.now(), severityNumber: SeverityNumber.INFO, severityText: 'INFO', body: contents[i & 63] })));
add('OTLP JSON serialisation per record (audited record, batch of 512)', time(() => JsonLogsSerializer.serializeRequest(audited.kept), 20) / 512);
add('OTLP JSON serialisation per record (bare record, batch of 512)', time(() => JsonLogsSerializer.serializeRequest(bare.kept), 20) / 512);

// Marginal cost of each rule: the full table minus the time of the table without that rule.
const fullUs = time((i) => redactor.redact(contents[i & 63]));
const rules = (args['no-rules'] ? [] : DEFAULT_RULES).map((rule) => {
  const without = createRedactor({ rules: DEFAULT_RULES.filter((r) => r !== rule) });
  const alone = createRedactor({ rules: [rule] });
  const n = Math.max(500, Math.floor(iterations / 3));
  return {
    rule: rule.id,
    keywords: rule.keywords ?? null,
    marginalUs: fullUs - time((i) => without.redact(contents[i & 63]), n),
    aloneUs: time((i) => alone.redact(contents[i & 63]), n),
  };
}).sort((a, b) => b.aloneUs - a.aloneUs);
const empty = createRedactor({ rules: [] });
const floor = time((i) => empty.redact(contents[i & 63]));
for (const r of rules) r.aloneMinusEmptyUs = r.aloneUs - floor;

emitResult({
  part: 'stages',
  size,
  bodyBytes: Buffer.byteLength(sealedBodies[0]),
  stages,
  redactorFullTableUs: fullUs,
  redactorRules: rules,
  redactorEmptyTableUs: floor,
  redactorSumAloneMinusEmptyUs: rules.reduce((a, r) => a + r.aloneMinusEmptyUs, floor),
});
