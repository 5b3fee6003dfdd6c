/**
 * Audit event bodies → Elastic Common Schema documents (docs/siem-mapping.md has the table).
 *
 * One document per body. Categorisation uses ECS's allowed values only; the audit event name goes in
 * event.action. Rule hits on a proposed code block make it an alert (event.kind "alert") with rule.* and
 * threat.*. The canonical body is kept in event.original and its SHA-256 (the chain hash) in event.hash.
 * Fields ECS has no home for live under `oi_audit.*` and `gen_ai.*` (OpenTelemetry names).
 */
import type { JsonObject } from '../record/canonical-json.js';
import type { AuditEventName, RiskLevel } from '../semconv/events.js';
import { captured, capturedText, describe, num, parseBody, riskLevel, ruleById, ruleIds, rulesetVersion, str } from './body.js';
import type { AuditBody, MappingContext } from './body.js';
import { ruleAttack, SEVERITY_ID, tokenUsage } from './mapped-fields.js';

export const ECS_VERSION = '8.11.0';

export type EcsDocument = JsonObject;

/** Allowed values (ECS categorisation fields). */
export const ECS_ALLOWED = {
  kind: ['alert', 'asset', 'enrichment', 'event', 'metric', 'state', 'pipeline_error', 'signal'],
  category: ['api', 'authentication', 'configuration', 'database', 'driver', 'email', 'file', 'host', 'iam', 'intrusion_detection', 'library', 'malware', 'network', 'package', 'process', 'registry', 'session', 'threat', 'vulnerability', 'web'],
  type: ['access', 'admin', 'allowed', 'change', 'connection', 'creation', 'deletion', 'denied', 'end', 'error', 'group', 'indicator', 'info', 'installation', 'protocol', 'start', 'user'],
  outcome: ['failure', 'success', 'unknown'],
} as const;

/** Elastic's risk-score convention for rule severities. */
const RISK_SCORE: Record<RiskLevel, number> = { none: 0, low: 21, medium: 47, high: 73, critical: 99 };

interface Categorisation {
  category: string[];
  type: string[];
  outcome: 'success' | 'failure' | 'unknown';
}

function categorise(body: AuditBody): Categorisation {
  const d = body.data;
  const e: AuditEventName = body.event;
  switch (e) {
    case 'oi_audit.session.start':
      return { category: ['session'], type: ['start'], outcome: 'success' };
    case 'oi_audit.session.end':
      return { category: ['session'], type: ['end'], outcome: str(d.outcome) === 'complete' ? 'success' : 'failure' };
    case 'oi_audit.user.input':
    case 'oi_audit.assistant.message':
      return { category: ['session'], type: ['info'], outcome: 'success' };
    case 'oi_audit.llm.request':
      return { category: ['api', 'web'], type: ['access'], outcome: 'unknown' };
    case 'oi_audit.llm.response':
      return { category: ['api', 'web'], type: ['access'], outcome: 'success' };
    case 'oi_audit.code.generated':
      return { category: ['process'], type: ['info'], outcome: 'unknown' };
    case 'oi_audit.approval.decision':
      return { category: ['process'], type: [str(d.decision) === 'refused' ? 'denied' : 'allowed'], outcome: 'success' };
    case 'oi_audit.command.executed':
      return { category: ['process'], type: ['start'], outcome: 'unknown' };
    case 'oi_audit.command.output':
      return { category: ['process'], type: ['info'], outcome: 'success' };
    case 'oi_audit.error':
      return { category: [str(d.source) === 'llm' ? 'api' : 'process'], type: ['error'], outcome: 'failure' };
    case 'oi_audit.settings.refused':
      return { category: ['configuration'], type: ['change', 'denied'], outcome: 'failure' };
    case 'oi_audit.audit.loss':
      return { category: ['host'], type: ['error'], outcome: 'failure' };
    case 'oi_audit.integrity.checkpoint':
      return { category: ['configuration'], type: ['info'], outcome: 'success' };
    case 'oi_audit.sink.maintenance':
      return { category: ['file'], type: [str(d.action) === 'deleted_by_retention' ? 'deletion' : 'change'], outcome: 'success' };
    case 'oi_audit.process.exec':
      return { category: ['process'], type: ['start'], outcome: 'success' };
    case 'oi_audit.file.write':
      return { category: ['file'], type: [str(d.op) === 'create' || str(d.op) === 'mkdir' ? 'creation' : 'change'], outcome: d.ok === false ? 'failure' : 'success' };
    case 'oi_audit.file.delete':
      return { category: ['file'], type: ['deletion'], outcome: d.ok === false ? 'failure' : 'success' };
    case 'oi_audit.file.sensitive_read':
      return { category: ['file'], type: ['access'], outcome: d.ok === false ? 'failure' : 'success' };
    case 'oi_audit.ground_truth.finding':
      return { category: ['process', 'intrusion_detection'], type: ['indicator'], outcome: 'unknown' };
    case 'oi_audit.ground_truth.summary':
      return { category: ['process'], type: ['info'], outcome: 'success' };
  }
}

function levelOf(body: AuditBody): RiskLevel {
  const d = body.data;
  if (body.event === 'oi_audit.code.generated' || body.event === 'oi_audit.approval.decision' || body.event === 'oi_audit.command.executed') return riskLevel(d.risk);
  if (body.event === 'oi_audit.audit.loss') return 'high';
  if (body.event === 'oi_audit.ground_truth.finding' || body.event === 'oi_audit.process.exec' || body.event === 'oi_audit.file.sensitive_read') return riskLevel(d.risk);
  if (body.event === 'oi_audit.error' || body.event === 'oi_audit.settings.refused') return 'medium';
  return 'none';
}

/** rule.* and threat.* for the rules named on a code block (most severe first, as recorded). */
function detection(ids: string[]): { rule: JsonObject; threat?: JsonObject } {
  const rules = ids.map((id) => ({ id, rule: ruleById(id) }));
  const rule: JsonObject = {
    id: ids,
    name: rules.map((r) => r.rule?.title ?? r.id),
    ruleset: 'oi-audit',
    version: rulesetVersion(),
    category: rules.map((r) => r.id.split('-')[1] ?? ''),
    reference: rules.map((r) => `docs/playbooks.md#${r.id.toLowerCase()}`),
  };
  const known = rules.filter((r) => r.rule).map((r) => r.rule!);
  if (known.length === 0) return { rule };
  const framework = known[0]!.attack.framework;
  const same = known.filter((r) => r.attack.framework === framework);
  const attacks = same.map(ruleAttack);
  const threat: JsonObject = {
    framework,
    technique: { id: attacks.map((t) => t.technique.uid), name: attacks.map((t) => t.technique.name) },
    tactic: { id: attacks.map((t) => t.tactic.uid), name: attacks.map((t) => t.tactic.name) },
  };
  const subs = attacks.filter((t) => t.sub);
  if (subs.length > 0) (threat.technique as JsonObject).subtechnique = { id: subs.map((t) => t.sub!.uid), name: subs.map((t) => t.sub!.name) };
  return { rule, threat };
}

/** Map one audit body to an ECS document. Accepts the body's JSON text (kept verbatim) or the parsed object. */
export function toEcs(input: AuditBody | JsonObject | string, ctx: MappingContext = {}): EcsDocument {
  const p = parseBody(input);
  const body = p.body;
  const d = body.data;
  const cat = categorise(body);
  const level = levelOf(body);
  const ids = body.event === 'oi_audit.code.generated' || body.event === 'oi_audit.ground_truth.finding' ? ruleIds(d.rules) : [];
  const event: JsonObject = {
    kind: ids.length > 0 ? 'alert' : 'event',
    category: cat.category,
    type: cat.type,
    outcome: cat.outcome,
    action: body.event,
    dataset: 'oi_audit.audit',
    module: 'oi_audit',
    provider: 'oi-audit',
    id: `${body.session}:${body.seq}`,
    sequence: body.seq,
    severity: SEVERITY_ID[level],
    risk_score: RISK_SCORE[level],
    original: p.raw,
    hash: p.hash,
  };
  if (ctx.observedTimeMs !== undefined) event.created = new Date(ctx.observedTimeMs).toISOString();
  const user = ctx.user ?? str(d.user);
  const doc: EcsDocument = {
    '@timestamp': body.ts,
    ecs: { version: ECS_VERSION },
    message: describe(body),
    event,
    trace: { id: body.trace_id },
    span: { id: body.span_id },
    service: { name: ctx.serviceName ?? 'oi-audit', type: 'open-interpreter' },
    labels: { session_id: body.session },
    oi_audit: {
      session: body.session,
      seq: body.seq,
      prev: body.prev,
      mac: body.mac,
      v: body.v,
      ...(num(d.turn) !== undefined ? { turn: num(d.turn)! } : {}),
      ...(num(d.index) !== undefined ? { code_index: num(d.index)! } : {}),
    },
  };
  if (user) doc.user = { hash: user };
  if (ctx.hostname) doc.host = { hostname: ctx.hostname, name: ctx.hostname };
  const oi = doc.oi_audit as JsonObject;
  switch (body.event) {
    case 'oi_audit.session.start': {
      const addr = str(d.client_address);
      if (addr) doc.client = { address: addr };
      doc.gen_ai = { agent: { name: str(d.agent) ?? 'open-interpreter' }, conversation: { id: body.session }, ...(str(d.model) ? { request: { model: str(d.model)! } } : {}) };
      oi.policy = str(d.policy) ?? null;
      oi.auto_run = d.auto_run === true;
      break;
    }
    case 'oi_audit.session.end':
      oi.outcome = str(d.outcome) ?? null;
      if (num(d.duration_ms) !== undefined) event.duration = num(d.duration_ms)! * 1_000_000;
      break;
    case 'oi_audit.llm.request':
      doc.gen_ai = { operation: { name: 'chat' }, request: { model: str(d.model) ?? 'unknown' }, provider: { name: str(d.provider) ?? 'unknown' }, conversation: { id: body.session } };
      oi.messages = capturedText(captured(d.messages));
      break;
    case 'oi_audit.llm.response': {
      const usage = tokenUsage(d);
      const g: JsonObject = { operation: { name: 'chat' }, conversation: { id: body.session } };
      if (str(d.response_model)) g.response = { model: str(d.response_model)! };
      if (usage.input !== undefined || usage.output !== undefined) g.usage = { input_tokens: usage.input ?? null, output_tokens: usage.output ?? null };
      doc.gen_ai = g;
      if (num(d.latency_ms) !== undefined) event.duration = num(d.latency_ms)! * 1_000_000;
      oi.content = capturedText(captured(d.content));
      break;
    }
    case 'oi_audit.user.input':
      oi.input = capturedText(captured(d.input));
      break;
    case 'oi_audit.assistant.message':
      oi.content = capturedText(captured(d.content));
      break;
    case 'oi_audit.code.generated':
    case 'oi_audit.command.executed': {
      const c = captured(d.code);
      const language = str(d.language) ?? 'unknown';
      oi.code = { language, text: capturedText(c), sha256: c?.sha256 ?? str(d.code_sha256) ?? null, risk: riskLevel(d.risk) };
      if (language === 'shell' || language === 'bash' || language === 'sh') doc.process = { command_line: capturedText(c) };
      if (ids.length > 0) Object.assign(doc, detection(ids));
      break;
    }
    case 'oi_audit.approval.decision':
      oi.approval = { decision: str(d.decision) ?? null, decider: str(d.decider) ?? null, reason: str(d.reason) ?? null, rules: ruleIds(d.rules), code_sha256: str(d.code_sha256) ?? null };
      if (str(d.decider) === 'user' && user) doc.user = { hash: user, roles: ['approver'] };
      break;
    case 'oi_audit.command.output':
      oi.output = str(d.kind) === 'image' ? { kind: 'image', format: str(d.format) ?? null, bytes: num(d.bytes) ?? null } : { kind: 'console', part: num(d.part) ?? null, final: d.final === true, text: capturedText(captured(d.output)) };
      break;
    case 'oi_audit.error':
      doc.error = { type: str(d.type) ?? str(d.source) ?? 'unknown', message: capturedText(captured(d.message)) };
      oi.error_source = str(d.source) ?? null;
      break;
    case 'oi_audit.settings.refused':
      oi.setting = { name: str(d.setting) ?? null, reason: str(d.reason) ?? null };
      break;
    case 'oi_audit.audit.loss':
      oi.loss = { lost: num(d.lost) ?? null, reason: str(d.reason) ?? null };
      break;
    case 'oi_audit.process.exec': {
      const argv = Array.isArray(d.argv) ? d.argv.filter((a): a is string => typeof a === 'string') : [];
      doc.process = { pid: num(d.pid) ?? null, parent: { pid: num(d.ppid) ?? null }, executable: str(d.path) ?? null, name: str(d.program) ?? null, args: argv, command_line: argv.join(' '), working_directory: str(d.cwd) ?? null, ...(num(d.exit_code) !== undefined ? { exit_code: num(d.exit_code)! } : {}) };
      oi.ground_truth = { role: str(d.role) ?? null, accounted: d.accounted === true, risk: riskLevel(d.risk) };
      break;
    }
    case 'oi_audit.file.write':
    case 'oi_audit.file.delete':
    case 'oi_audit.file.sensitive_read':
      doc.file = { path: str(d.path) ?? null };
      if (num(d.pid) !== undefined) doc.process = { pid: num(d.pid)! };
      oi.ground_truth = { op: str(d.op) ?? null, class: str(d.class) ?? null, count: num(d.count) ?? null };
      break;
    case 'oi_audit.ground_truth.finding':
      oi.ground_truth = { kind: str(d.kind) ?? null, reason: str(d.reason) ?? null, risk: riskLevel(d.risk) };
      if (ids.length > 0) Object.assign(doc, detection(ids));
      break;
    case 'oi_audit.ground_truth.summary':
      oi.ground_truth = { processes: num(d.processes) ?? null, findings: num(d.findings) ?? null };
      break;
    case 'oi_audit.sink.maintenance':
      oi.maintenance = { action: str(d.action) ?? null, file: str(d.file) ?? null, bytes: num(d.bytes) ?? null };
      break;
    case 'oi_audit.integrity.checkpoint':
      oi.checkpoint = { reason: str(d.reason) ?? null, from_seq: num(d.from_seq) ?? null, to_seq: num(d.to_seq) ?? null };
      break;
  }
  return doc;
}
