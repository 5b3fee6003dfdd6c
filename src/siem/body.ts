/**
 * Shared reading of audit event bodies for the SIEM mappers: the body as a parsed object plus its
 * canonical text (the evidence, kept verbatim in every mapped record), and lookups into the rule table.
 */
import { bundledRules, type DetectionRule } from '../detect/engine.js';
import { canonicalize, type JsonObject, type JsonValue } from '../record/canonical-json.js';
import { decodeParsed, decodeRecord, type AuditRecordBody, type DecodeResult } from '../record/decode.js';
import { isObject } from '../record/json-shape.js';
import { sha256Hex } from '../integrity/hash.js';
import { RISK_LEVELS, type RiskLevel } from '../semconv/events.js';

/** An audit event body: `{v, session, seq, prev, ts, event, trace_id, span_id, data, mac}` (record/body.ts). */
export type AuditBody = AuditRecordBody;

/** What the body does not carry but a log record or the exporter knows. All optional. */
export interface MappingContext {
  /** enduser.pseudo.id of the record (session.start bodies carry it as data.user). */
  user?: string;
  /** Resource service.name. Default `oi-audit`. */
  serviceName?: string;
  /** Host the interpreter ran on. */
  hostname?: string;
  /** When the record was observed/exported (ms since the epoch). */
  observedTimeMs?: number;
}

export interface ParsedBody {
  body: AuditBody;
  /** RFC 8785 canonical text: the bytes the hash chain covers. */
  raw: string;
  /** SHA-256 of `raw`: the next event's `prev`. */
  hash: string;
  timeMs: number;
}

export class BodyError extends Error {
  override name = 'BodyError';
}

/**
 * Accept a body as its JSON text (kept byte for byte) or as a parsed object (re-canonicalised), read by
 * the one decoder (record/decode.ts): its reason is the BodyError's message. A body must also carry a
 * parsable `ts`, which the mapped records need as their time.
 */
export function parseBody(input: AuditBody | JsonObject | string): ParsedBody {
  let raw: string;
  let decoded: DecodeResult;
  if (typeof input === 'string') {
    raw = input;
    decoded = decodeRecord(input);
  } else {
    try {
      raw = canonicalize(input);
    } catch (err) {
      throw new BodyError(`not an audit body: it cannot be canonicalised (${(err as Error).message})`);
    }
    decoded = decodeParsed(input);
  }
  if (!decoded.ok) throw new BodyError(`not an audit body: ${decoded.reason}`);
  const body = decoded.record;
  const timeMs = Date.parse(body.ts);
  if (Number.isNaN(timeMs)) throw new BodyError(`audit body ts is not a timestamp: ${body.ts.slice(0, 80)}`);
  return { body, raw, hash: sha256Hex(raw), timeMs };
}

/** A captured content field (CapturedContent in src/audit/content.ts). */
export interface Captured {
  mode: string;
  sha256: string;
  bytes: number;
  text?: string;
  truncated?: boolean;
  redactions?: Record<string, number>;
}

export function captured(value: JsonValue | undefined): Captured | undefined {
  if (!isObject(value)) return undefined;
  const v = value;
  if (typeof v.sha256 !== 'string' || typeof v.mode !== 'string') return undefined;
  const c: Captured = { mode: v.mode, sha256: v.sha256, bytes: typeof v.bytes === 'number' ? v.bytes : 0 };
  if (typeof v.text === 'string') c.text = v.text;
  if (v.truncated === true) c.truncated = true;
  if (isObject(v.redactions)) c.redactions = v.redactions as Record<string, number>;
  return c;
}

/** Text of a captured field, or a marker saying why there is none (hash / none capture modes). */
export function capturedText(c: Captured | undefined): string {
  if (!c) return '';
  if (c.text !== undefined) return c.text;
  return `[not captured: mode ${c.mode}, ${c.bytes} bytes, sha256 ${c.sha256}]`;
}

export function str(v: JsonValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function num(v: JsonValue | undefined): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function riskLevel(v: JsonValue | undefined): RiskLevel {
  return typeof v === 'string' && (RISK_LEVELS as readonly string[]).includes(v) ? (v as RiskLevel) : 'none';
}

export function ruleIds(v: JsonValue | undefined): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

let ruleIndex: Map<string, DetectionRule> | undefined;

/** The rule-table entry for an id, if this build knows it. */
export function ruleById(id: string): DetectionRule | undefined {
  ruleIndex ??= new Map(bundledRules().rules.map((r) => [r.id, r]));
  return ruleIndex.get(id);
}

export function rulesetVersion(): string {
  return bundledRules().version;
}

/** Split `T1552.004` into technique and sub-technique, and `A: B` names likewise. */
export function splitTechnique(id: string, name: string): { technique: { uid: string; name: string }; sub?: { uid: string; name: string } } {
  const dot = id.indexOf('.', id.startsWith('AML.') ? 4 : 0);
  if (dot < 0) return { technique: { uid: id, name } };
  const colon = name.indexOf(': ');
  return {
    technique: { uid: id.slice(0, dot), name: colon > 0 ? name.slice(0, colon) : name },
    sub: { uid: id, name: colon > 0 ? name.slice(colon + 2) : name },
  };
}

/** `TA0006 Credential Access` → uid and name. */
export function splitTactic(tactic: string): { uid: string; name: string } {
  const m = /^(\S+)\s+(.+)$/.exec(tactic);
  return m ? { uid: m[1]!, name: m[2]! } : { uid: tactic, name: tactic };
}

/** A short human description of the event. */
export function describe(body: AuditBody): string {
  const d = body.data;
  const turn = num(d.turn);
  const where = turn !== undefined ? ` (turn ${turn}${num(d.index) !== undefined ? `, block ${num(d.index)}` : ''})` : '';
  switch (body.event) {
    case 'oi_audit.session.start':
      return `session ${body.session} started`;
    case 'oi_audit.session.end':
      return `session ${body.session} ended: ${str(d.outcome) ?? 'unknown'}`;
    case 'oi_audit.user.input':
      return `user input${where}`;
    case 'oi_audit.llm.request':
      return `LLM request to ${str(d.model) ?? 'model'}${where}`;
    case 'oi_audit.llm.response':
      return `LLM response from ${str(d.response_model) ?? str(d.model) ?? 'model'}${where}`;
    case 'oi_audit.assistant.message':
      return `assistant message${where}`;
    case 'oi_audit.code.generated': {
      const rules = ruleIds(d.rules);
      return `${str(d.language) ?? 'code'} block proposed, risk ${riskLevel(d.risk)}${rules.length ? ` [${rules.join(', ')}]` : ''}${where}`;
    }
    case 'oi_audit.approval.decision':
      return `code block ${str(d.decision) ?? 'decided'} by ${str(d.decider) ?? 'unknown'}${where}`;
    case 'oi_audit.command.executed':
      return `${str(d.language) ?? 'code'} block executed${where}`;
    case 'oi_audit.command.output':
      return `command output${str(d.kind) === 'image' ? ' (image)' : ''}${where}`;
    case 'oi_audit.error':
      return `${str(d.source) ?? 'unknown'} error${str(d.type) ? ` ${str(d.type)}` : ''}${where}`;
    case 'oi_audit.settings.refused':
      return `setting ${str(d.setting) ?? '?'} refused: ${str(d.reason) ?? ''}`.trim();
    case 'oi_audit.audit.loss':
      return `${num(d.lost) ?? '?'} audit events lost: ${str(d.reason) ?? ''}`.trim();
    case 'oi_audit.process.exec':
      return `program ${str(d.program) ?? '?'} started by ${str(d.role) === 'runtime' ? 'Open Interpreter' : 'approved code'}${where}`;
    case 'oi_audit.file.write':
      return `file ${str(d.op) ?? 'write'} ${str(d.path) ?? '?'}${where}`;
    case 'oi_audit.file.delete':
      return `file delete ${str(d.path) ?? '?'}${where}`;
    case 'oi_audit.file.sensitive_read':
      return `sensitive path opened: ${str(d.path) ?? '?'} (${str(d.class) ?? '?'})${where}`;
    case 'oi_audit.ground_truth.finding':
      return `ground truth finding (${str(d.kind) ?? '?'}): ${str(d.reason) ?? ''}${where}`;
    case 'oi_audit.ground_truth.summary':
      return `ground truth: ${num(d.processes) ?? 0} programs, ${num(d.findings) ?? 0} findings${where}`;
    case 'oi_audit.sink.maintenance':
      return `sink ${str(d.action) === 'deleted_by_retention' ? 'file deleted by retention' : 'file rotated'}: ${str(d.file) ?? '?'}`;
    case 'oi_audit.integrity.checkpoint':
      return `integrity checkpoint over seq ${num(d.from_seq) ?? '?'}..${num(d.to_seq) ?? '?'} (${str(d.reason) ?? ''})`;
  }
}
