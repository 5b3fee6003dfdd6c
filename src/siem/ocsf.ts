/**
 * Audit event bodies → OCSF 1.8 events (docs/siem-mapping.md has the table).
 *
 * One body gives one primary event, plus one Detection Finding (2004) per detection rule named on a
 * proposed code block. Every event keeps the canonical body in `raw_data`, so the SIEM copy can still be
 * verified with `oi-audit verify`, and the chain fields (seq, prev, mac) in `unmapped.oi_audit`.
 */
import type { JsonObject, JsonValue } from '../record/canonical-json.js';
import type { RiskLevel } from '../semconv/events.js';
import { VERSION } from '../version.js';
import { captured, capturedText, describe, num, parseBody, riskLevel, ruleById, ruleIds, rulesetVersion, str } from './body.js';
import type { AuditBody, MappingContext, ParsedBody } from './body.js';
import { ruleAttack, SEVERITY_ID, tokenUsage } from './mapped-fields.js';

export const OCSF_VERSION = '1.8.0';
const PRODUCT_VERSION = VERSION;

/** An OCSF event as a plain JSON object. */
export type OcsfEvent = JsonObject;

export const OCSF_CLASSES = {
  fileSystemActivity: { uid: 1001, name: 'File System Activity', category: 1 },
  processActivity: { uid: 1007, name: 'Process Activity', category: 1 },
  scriptActivity: { uid: 1009, name: 'Script Activity', category: 1 },
  detectionFinding: { uid: 2004, name: 'Detection Finding', category: 2 },
  authentication: { uid: 3002, name: 'Authentication', category: 3 },
  applicationLifecycle: { uid: 6002, name: 'Application Lifecycle', category: 6 },
  apiActivity: { uid: 6003, name: 'API Activity', category: 6 },
} as const;

export const OCSF_CATEGORIES: Record<number, string> = {
  1: 'System Activity',
  2: 'Findings',
  3: 'Identity & Access Management',
  4: 'Network Activity',
  5: 'Discovery',
  6: 'Application Activity',
  7: 'Remediation',
  8: 'Unmanned Systems',
};

/** severity_id: 0 Unknown, 1 Informational, 2 Low, 3 Medium, 4 High, 5 Critical, 6 Fatal, 99 Other. */
export const OCSF_SEVERITY: Record<number, string> = { 0: 'Unknown', 1: 'Informational', 2: 'Low', 3: 'Medium', 4: 'High', 5: 'Critical', 6: 'Fatal', 99: 'Other' };

/** status_id: 0 Unknown, 1 Success, 2 Failure, 99 Other. */
const STATUS: Record<number, string> = { 0: 'Unknown', 1: 'Success', 2: 'Failure', 99: 'Other' };

/** Script type_id: 3 Python, 4 JavaScript, 6 Unix Shell, 99 Other (the values the reference lists). */
export function scriptTypeId(language: string): number {
  const l = language.toLowerCase();
  if (['python', 'py', 'python3', 'ipython'].includes(l)) return 3;
  if (['javascript', 'js', 'node'].includes(l)) return 4;
  if (['shell', 'bash', 'sh', 'zsh', 'dash', 'ksh', 'fish'].includes(l)) return 6;
  return 99;
}

/** SHA-256 fingerprint (algorithm_id 3). */
function sha256Fingerprint(value: string): JsonObject {
  return { algorithm_id: 3, algorithm: 'SHA-256', value };
}

type Cls = (typeof OCSF_CLASSES)[keyof typeof OCSF_CLASSES];

interface Base {
  cls: Cls;
  activityId: number;
  activityName: string;
  severityId: number;
  statusId?: number;
  statusDetail?: string;
  profiles?: string[];
}

function baseEvent(p: ParsedBody, b: Base, ctx: MappingContext): OcsfEvent {
  const body = p.body;
  const profiles = ['trace', ...(b.profiles ?? [])];
  const metadata: JsonObject = {
    version: OCSF_VERSION,
    product: { name: 'oi-audit', vendor_name: 'oi-audit', version: PRODUCT_VERSION },
    uid: `${body.session}:${body.seq}`,
    correlation_uid: body.session,
    event_code: body.event,
    original_time: body.ts,
    profiles,
  };
  if (ctx.observedTimeMs !== undefined) metadata.logged_time = ctx.observedTimeMs;
  const ev: OcsfEvent = {
    class_uid: b.cls.uid,
    class_name: b.cls.name,
    category_uid: b.cls.category,
    category_name: OCSF_CATEGORIES[b.cls.category]!,
    activity_id: b.activityId,
    activity_name: b.activityName,
    type_uid: b.cls.uid * 100 + b.activityId,
    type_name: `${b.cls.name}: ${b.activityName}`,
    severity_id: b.severityId,
    severity: OCSF_SEVERITY[b.severityId]!,
    time: p.timeMs,
    timezone_offset: 0,
    message: describe(body),
    metadata,
    trace: { uid: body.trace_id },
    raw_data: p.raw,
    unmapped: {
      oi_audit: { v: body.v, session: body.session, seq: body.seq, prev: body.prev, mac: body.mac, hash: p.hash, span_id: body.span_id },
    },
  };
  if (b.statusId !== undefined) {
    ev.status_id = b.statusId;
    ev.status = STATUS[b.statusId] ?? 'Other';
  }
  if (b.statusDetail) ev.status_detail = b.statusDetail;
  return ev;
}

function actor(body: AuditBody, ctx: MappingContext): JsonObject {
  const user: JsonObject = { uid: ctx.user ?? str(body.data.user) ?? 'unknown', type_id: 1, type: 'User' };
  return { user, app_name: 'Open Interpreter', session: { uid: body.session } };
}

function device(ctx: MappingContext): JsonObject {
  const d: JsonObject = { type_id: 0, type: 'Unknown' };
  if (ctx.hostname) d.hostname = ctx.hostname;
  return d;
}

function app(ctx: MappingContext, body: AuditBody): JsonObject {
  const a: JsonObject = { name: 'Open Interpreter', vendor_name: 'Open Interpreter', feature: { name: ctx.serviceName ?? 'oi-audit' } };
  const v = str(body.data.open_interpreter_version);
  if (v) a.version = v;
  return a;
}

function script(body: AuditBody, content: JsonValue | undefined): JsonObject {
  const c = captured(content);
  const language = str(body.data.language) ?? 'unknown';
  const s: JsonObject = {
    script_content: capturedText(c),
    type_id: scriptTypeId(language),
    type: language,
    uid: `${body.session}:${num(body.data.turn) ?? 0}:${num(body.data.index) ?? 0}`,
  };
  const sha = c?.sha256 ?? str(body.data.code_sha256);
  if (sha) s.hashes = [sha256Fingerprint(sha)];
  return s;
}

function apiEvent(p: ParsedBody, ctx: MappingContext, operation: string, activityId: number, activityName: string, extra: JsonObject, base: Partial<Base> = {}): OcsfEvent {
  const ev = baseEvent(p, { cls: OCSF_CLASSES.apiActivity, activityId, activityName, severityId: 1, profiles: ['ai_operation'], ...base }, ctx);
  ev.actor = actor(p.body, ctx);
  ev.api = { operation, service: { name: ctx.serviceName ?? 'oi-audit' } };
  ev.src_endpoint = { svc_name: 'open-interpreter', ...(ctx.hostname ? { hostname: ctx.hostname } : {}) };
  return { ...ev, ...extra };
}

function messageContext(body: AuditBody, extra: JsonObject = {}): JsonObject {
  return { uid: body.session, ...extra };
}

function primary(p: ParsedBody, ctx: MappingContext): OcsfEvent {
  const body = p.body;
  const d = body.data;
  switch (body.event) {
    case 'oi_audit.session.start':
    case 'oi_audit.session.end': {
      const start = body.event === 'oi_audit.session.start';
      const outcome = str(d.outcome);
      const ev = baseEvent(p, {
        cls: OCSF_CLASSES.applicationLifecycle,
        activityId: start ? 3 : 4,
        activityName: start ? 'Start' : 'Stop',
        severityId: start || outcome === 'complete' ? 1 : 3,
        statusId: start ? 1 : outcome === 'complete' ? 1 : 2,
        ...(outcome && outcome !== 'complete' ? { statusDetail: outcome } : {}),
      }, ctx);
      ev.app = app(ctx, body);
      ev.actor = actor(body, ctx);
      return ev;
    }
    case 'oi_audit.user.input':
      return apiEvent(p, ctx, 'interpreter.user_input', 1, 'Create', {
        message_context: messageContext(body, { ai_role_id: 1, prompt_text: capturedText(captured(d.input)) }),
      }, { statusId: 1 });
    case 'oi_audit.assistant.message':
      return apiEvent(p, ctx, 'interpreter.assistant_message', 2, 'Read', {
        message_context: messageContext(body, { ai_role_id: 2, response_text: capturedText(captured(d.content)) }),
      }, { statusId: 1 });
    case 'oi_audit.llm.request': {
      const model: JsonObject = { name: str(d.model) ?? 'unknown', ai_provider: str(d.provider) ?? 'unknown' };
      return apiEvent(p, ctx, 'chat.completions', 1, 'Create', {
        ai_model: model,
        dst_endpoint: { svc_name: str(d.provider) ?? 'llm' },
        message_context: messageContext(body, { prompt_text: capturedText(captured(d.messages)) }),
      }, { statusId: 0 });
    }
    case 'oi_audit.llm.response': {
      const mc: JsonObject = { response_text: capturedText(captured(d.content)) };
      const { input: inTok, output: outTok } = tokenUsage(d);
      if (inTok !== undefined) mc.prompt_tokens = inTok;
      if (outTok !== undefined) mc.completion_tokens = outTok;
      if (inTok !== undefined && outTok !== undefined) mc.total_tokens = inTok + outTok;
      const extra: JsonObject = { message_context: messageContext(body, mc) };
      const model = str(d.response_model);
      if (model) extra.ai_model = { name: model, ai_provider: 'unknown' };
      const latency = num(d.latency_ms);
      if (latency !== undefined) extra.duration = latency;
      return apiEvent(p, ctx, 'chat.completions', 1, 'Create', extra, { statusId: 1 });
    }
    case 'oi_audit.code.generated':
    case 'oi_audit.command.executed': {
      const executed = body.event === 'oi_audit.command.executed';
      const ev = baseEvent(p, {
        cls: OCSF_CLASSES.scriptActivity,
        activityId: executed ? 1 : 99,
        activityName: executed ? 'Execute' : 'Propose',
        severityId: SEVERITY_ID[riskLevel(d.risk)],
        statusId: executed ? 0 : 99,
      }, ctx);
      ev.actor = actor(body, ctx);
      ev.device = device(ctx);
      ev.script = script(body, d.code);
      return ev;
    }
    case 'oi_audit.approval.decision': {
      const refused = str(d.decision) === 'refused';
      const ev = baseEvent(p, {
        cls: OCSF_CLASSES.scriptActivity,
        activityId: 99,
        activityName: refused ? 'Refuse' : 'Approve',
        severityId: SEVERITY_ID[riskLevel(d.risk)],
        statusId: 1,
        profiles: ['security_control'],
        ...(str(d.reason) ? { statusDetail: str(d.reason)! } : {}),
      }, ctx);
      ev.actor = actor(body, ctx);
      ev.device = device(ctx);
      ev.script = script(body, undefined);
      ev.action_id = refused ? 2 : 1;
      ev.action = refused ? 'Denied' : 'Allowed';
      ev.disposition_id = refused ? 2 : 1;
      ev.disposition = refused ? 'Blocked' : 'Allowed';
      return ev;
    }
    case 'oi_audit.command.output': {
      const ev = baseEvent(p, { cls: OCSF_CLASSES.scriptActivity, activityId: 99, activityName: 'Output', severityId: 1, statusId: 1 }, ctx);
      ev.actor = actor(body, ctx);
      ev.device = device(ctx);
      const s = script(body, undefined);
      s.script_content = str(d.kind) === 'image' ? `[image ${str(d.format) ?? ''} ${num(d.bytes) ?? 0} bytes]` : capturedText(captured(d.output));
      ev.script = s;
      return ev;
    }
    case 'oi_audit.error': {
      const source = str(d.source) ?? 'unknown';
      const detail = `${str(d.type) ?? source}: ${capturedText(captured(d.message))}`;
      if (source === 'llm') return apiEvent(p, ctx, 'chat.completions', 1, 'Create', {}, { statusId: 2, statusDetail: detail, severityId: 3 });
      if (source === 'execution') {
        const ev = baseEvent(p, { cls: OCSF_CLASSES.scriptActivity, activityId: 1, activityName: 'Execute', severityId: 3, statusId: 2, statusDetail: detail }, ctx);
        ev.actor = actor(body, ctx);
        ev.device = device(ctx);
        ev.script = script(body, undefined);
        return ev;
      }
      const ev = baseEvent(p, { cls: OCSF_CLASSES.applicationLifecycle, activityId: 99, activityName: 'Error', severityId: 3, statusId: 2, statusDetail: detail }, ctx);
      ev.app = app(ctx, body);
      return ev;
    }
    case 'oi_audit.settings.refused':
      return apiEvent(p, ctx, `interpreter.settings.${str(d.setting) ?? 'unknown'}`, 3, 'Update', { action_id: 2, action: 'Denied' }, {
        statusId: 2,
        statusDetail: str(d.reason) ?? 'refused',
        severityId: 3,
        profiles: ['ai_operation', 'security_control'],
      });
    case 'oi_audit.audit.loss': {
      const ev = baseEvent(p, { cls: OCSF_CLASSES.applicationLifecycle, activityId: 99, activityName: 'Audit Loss', severityId: 4, statusId: 2, statusDetail: `${num(d.lost) ?? '?'} events lost: ${str(d.reason) ?? ''}` }, ctx);
      ev.app = app(ctx, body);
      return ev;
    }
    case 'oi_audit.integrity.checkpoint': {
      const ev = baseEvent(p, { cls: OCSF_CLASSES.applicationLifecycle, activityId: 99, activityName: 'Integrity Checkpoint', severityId: 1, statusId: 1 }, ctx);
      ev.app = app(ctx, body);
      return ev;
    }
    case 'oi_audit.sink.maintenance': {
      const ev = baseEvent(p, { cls: OCSF_CLASSES.applicationLifecycle, activityId: 99, activityName: 'Audit Sink Maintenance', severityId: 1, statusId: 1, statusDetail: describe(body) }, ctx);
      ev.app = app(ctx, body);
      return ev;
    }
    case 'oi_audit.process.exec':
    case 'oi_audit.file.write':
    case 'oi_audit.file.delete':
    case 'oi_audit.file.sensitive_read':
    case 'oi_audit.ground_truth.finding':
    case 'oi_audit.ground_truth.summary': {
      // Execution ground truth: observed under the block that ran (Script Activity, "Observe").
      const ev = baseEvent(p, { cls: OCSF_CLASSES.scriptActivity, activityId: 99, activityName: 'Observe', severityId: SEVERITY_ID[riskLevel(d.risk)], statusId: 1, statusDetail: describe(body) }, ctx);
      ev.actor = actor(body, ctx);
      ev.device = device(ctx);
      ev.script = script(body, undefined);
      return ev;
    }
  }
}

/** One Detection Finding per rule named on a proposed code block. */
function findings(p: ParsedBody, ctx: MappingContext): OcsfEvent[] {
  const body = p.body;
  if (body.event !== 'oi_audit.code.generated') return [];
  return ruleIds(body.data.rules).map((id) => {
    const rule = ruleById(id);
    const level: RiskLevel = rule ? rule.severity : riskLevel(body.data.risk);
    const ev = baseEvent(p, { cls: OCSF_CLASSES.detectionFinding, activityId: 1, activityName: 'Create', severityId: SEVERITY_ID[level], statusId: 1 }, ctx);
    ev.status = 'New';
    ev.message = `${id}${rule ? ` ${rule.title}` : ''}: ${describe(body)}`;
    const info: JsonObject = {
      uid: `${body.session}:${body.seq}:${id}`,
      title: rule?.title ?? id,
      analytic: { uid: id, name: id, type_id: 1, type: 'Rule', version: rulesetVersion() },
      types: ['oi-audit detection'],
      data_sources: ['oi-audit'],
      first_seen_time: p.timeMs,
    };
    if (rule) {
      info.desc = rule.description;
      const t = ruleAttack(rule);
      const attack: JsonObject = { technique: t.technique, tactic: t.tactic, version: rule.attack.version };
      if (t.sub) attack.sub_technique = t.sub;
      info.attacks = [attack];
    }
    ev.finding_info = info;
    ev.is_alert = level === 'high' || level === 'critical';
    ev.confidence_id = 0;
    ev.evidences = [{ script: script(body, body.data.code), actor: actor(body, ctx) }];
    (ev.metadata as JsonObject).uid = `${body.session}:${body.seq}:${id}`;
    return ev;
  });
}

/**
 * Map one audit body to OCSF: the primary event first, then a Detection Finding per rule hit.
 * Accepts the body as its JSON text (kept verbatim in raw_data) or as a parsed object.
 */
export function toOcsf(body: AuditBody | JsonObject | string, ctx: MappingContext = {}): OcsfEvent[] {
  const p = parseBody(body);
  return [primary(p, ctx), ...findings(p, ctx)];
}

