import { AUDIT_EVENTS, type AuditEventName } from '../semconv/events.js';
import { decodeRecord } from '../record/decode.js';
import { isObject } from '../record/json-shape.js';
import type { AuditData, SourceRef, SpanEntry } from './otlp-files.js';
import { fieldText } from '../record/field-text.js';

type Json = Record<string, unknown>;

/** One audit event parsed from its body. */
export interface ParsedEvent {
  seq: number;
  event: AuditEventName;
  ts: string;
  session: string;
  traceId: string;
  spanId: string;
  data: Json;
  body: string;
  source: SourceRef;
}

export interface LlmCallView {
  call: number;
  model: string;
  inputTokens: number | null;
  outputTokens: number | null;
  latencyMs: number | null;
  finishReasons: string[];
  error?: string;
  clientDisconnected: boolean;
}

export interface CodeView {
  index: number;
  language: string;
  code: string;
  codeSha256: string;
  risk: string;
  rules: string[];
  decision: string;
  decider: string;
  reason?: string;
  executed: boolean;
  output: string;
  outputBytes: number;
  images: number;
  error: boolean;
  durationMs: number | null;
  /** Risk found in the output (prompt-injection indicators…), from the final output part. */
  outputRisk?: string;
  outputRules?: string[];
}

export interface TurnView {
  index: number;
  input: string;
  startedAt: string;
  durationMs: number | null;
  outcome: string;
  /** Risk found in the user's input, when the body states one. */
  inputRisk?: string;
  inputRules?: string[];
  llmCalls: LlmCallView[];
  assistant: string[];
  code: CodeView[];
  errors: Array<{ source: string; type?: string; message: string }>;
}

export interface SessionView {
  sessionId: string;
  traceIds: string[];
  user: string;
  model: string;
  policy: string;
  openInterpreterVersion: string;
  imported: boolean;
  startedAt: string;
  endedAt: string;
  durationMs: number | null;
  outcome: string;
  eventCount: number;
  spanCount: number;
  turns: TurnView[];
  sessionErrors: Array<{ source: string; type?: string; message: string }>;
  refusedSettings: Array<{ setting: string; reason: string }>;
  losses: Array<{ lost: number; reason: string }>;
  checkpoints: number;
}

/**
 * Parse audit bodies with the one decoder (record/decode.ts); records that are not audit events
 * (other apps' logs) are skipped and counted. So is a body the decoder refuses: one that names a
 * session, a seq and an event but lacks a field the writer always writes (v, prev, ts, trace_id,
 * span_id, a data object, a mac that is null or hex) was shown before with defaults filled in, and is
 * now skipped as not an audit record, the same answer verify gives (`malformed`).
 */
export function parseEvents(data: AuditData): { events: ParsedEvent[]; skipped: number } {
  const events: ParsedEvent[] = [];
  let skipped = 0;
  for (const log of data.logs) {
    const decoded = decodeRecord(log.body);
    if (!decoded.ok) {
      skipped++;
      continue;
    }
    const body = decoded.record;
    events.push({
      seq: body.seq,
      event: body.event,
      ts: body.ts,
      session: body.session,
      traceId: body.trace_id,
      spanId: body.span_id,
      data: body.data,
      body: log.body,
      source: log.source,
    });
  }
  return { events, skipped };
}

/** Content fields are recorded as {mode, sha256, bytes, text?}: show the text, or say what was kept. */
export function contentText(field: unknown): string {
  if (!isObject(field)) return '';
  if (typeof field.text === 'string') return field.text;
  return `[${fieldText(field.mode ?? 'hash')}: ${fieldText(field.bytes ?? '?')} bytes, sha256 ${fieldText(field.sha256 ?? '').slice(0, 12)}…]`;
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

function spanDurationMs(span: SpanEntry | undefined): number | null {
  if (!span) return null;
  const start = BigInt(span.startTimeUnixNano || '0');
  const end = BigInt(span.endTimeUnixNano || '0');
  if (start === 0n || end < start) return null;
  return Number((end - start) / 1_000_000n);
}

/** Group events by session and assemble the timeline the `view` command prints. */
export function assembleSessions(data: AuditData): SessionView[] {
  const { events } = parseEvents(data);
  const spansById = new Map<string, SpanEntry>();
  for (const span of data.spans) spansById.set(`${span.traceId}/${span.spanId}`, span);

  const bySession = new Map<string, ParsedEvent[]>();
  for (const e of events) {
    const list = bySession.get(e.session) ?? [];
    list.push(e);
    bySession.set(e.session, list);
  }

  const sessions: SessionView[] = [];
  for (const [sessionId, list] of bySession) {
    // Duplicates (a replayed spool, an at-least-once Collector) are shown once.
    const unique = new Map<number, ParsedEvent>();
    for (const e of list.sort((a, b) => a.seq - b.seq)) if (!unique.has(e.seq)) unique.set(e.seq, e);
    const ordered = [...unique.values()];
    const traceIds = [...new Set(ordered.map((e) => e.traceId))];
    const view: SessionView = {
      sessionId,
      traceIds,
      user: '',
      model: '',
      policy: '',
      openInterpreterVersion: '',
      imported: false,
      startedAt: ordered[0]?.ts ?? '',
      endedAt: '',
      durationMs: null,
      outcome: 'unknown (no session end recorded)',
      eventCount: ordered.length,
      spanCount: data.spans.filter((s) => traceIds.includes(s.traceId)).length,
      turns: [],
      sessionErrors: [],
      refusedSettings: [],
      losses: [],
      checkpoints: 0,
    };
    const turns = new Map<number, TurnView>();
    const turnOf = (d: Json): TurnView | undefined => (typeof d.turn === 'number' ? turns.get(d.turn) : undefined);
    const codeOf = (d: Json): CodeView | undefined => turnOf(d)?.code.find((c) => c.index === d.index);

    for (const e of ordered) {
      const d = e.data;
      switch (e.event) {
        case AUDIT_EVENTS.sessionStart:
          view.user = fieldText(d.user ?? '');
          view.model = fieldText(d.model ?? '');
          view.policy = fieldText(d.policy ?? '');
          view.openInterpreterVersion = fieldText(d.open_interpreter_version ?? '');
          view.imported = d.imported === true;
          view.startedAt = e.ts;
          break;
        case AUDIT_EVENTS.sessionEnd:
          view.endedAt = e.ts;
          view.outcome = fieldText(d.outcome ?? '');
          view.durationMs = num(d.duration_ms);
          break;
        case AUDIT_EVENTS.userInput: {
          const index = num(d.turn) ?? turns.size;
          const span = spansById.get(`${e.traceId}/${e.spanId}`);
          turns.set(index, {
            index,
            input: contentText(d.input),
            startedAt: e.ts,
            durationMs: spanDurationMs(span),
            outcome: fieldText(span?.attributes['oi_audit.turn.outcome'] ?? (span ? '' : 'unknown')),
            llmCalls: [],
            assistant: [],
            code: [],
            errors: [],
            ...(typeof d.risk === 'string' ? { inputRisk: d.risk, inputRules: strings(d.rules) } : {}),
          });
          break;
        }
        case AUDIT_EVENTS.llmRequest:
          turnOf(d)?.llmCalls.push({
            call: num(d.call) ?? 0,
            model: fieldText(d.model ?? ''),
            inputTokens: null,
            outputTokens: null,
            latencyMs: null,
            finishReasons: [],
            clientDisconnected: false,
          });
          break;
        case AUDIT_EVENTS.llmResponse: {
          const call = turnOf(d)?.llmCalls.find((c) => c.call === d.call);
          if (call) {
            const usage = isObject(d.usage) ? d.usage : {};
            call.inputTokens = num(usage.input_tokens);
            call.outputTokens = num(usage.output_tokens);
            call.latencyMs = num(d.latency_ms);
            call.finishReasons = strings(d.finish_reasons);
            call.clientDisconnected = d.client_disconnected === true;
          }
          break;
        }
        case AUDIT_EVENTS.assistantMessage:
          turnOf(d)?.assistant.push(contentText(d.content));
          break;
        case AUDIT_EVENTS.codeGenerated: {
          const span = spansById.get(`${e.traceId}/${e.spanId}`);
          turnOf(d)?.code.push({
            index: num(d.index) ?? 0,
            language: fieldText(d.language ?? ''),
            code: contentText(d.code),
            codeSha256: isObject(d.code) ? fieldText(d.code.sha256 ?? '') : '',
            risk: fieldText(d.risk ?? 'none'),
            rules: strings(d.rules),
            decision: 'pending',
            decider: '',
            executed: false,
            output: '',
            outputBytes: 0,
            images: 0,
            error: span?.attributes['oi_audit.execution.error'] === true,
            durationMs: spanDurationMs(span),
          });
          break;
        }
        case AUDIT_EVENTS.approvalDecision: {
          const code = codeOf(d);
          if (code) {
            code.decision = fieldText(d.decision ?? '');
            code.decider = fieldText(d.decider ?? '');
            if (typeof d.reason === 'string') code.reason = d.reason;
          }
          break;
        }
        case AUDIT_EVENTS.commandExecuted: {
          const code = codeOf(d);
          if (code) code.executed = true;
          break;
        }
        case AUDIT_EVENTS.commandOutput: {
          const code = codeOf(d);
          if (!code) break;
          if (d.kind === 'image') code.images++;
          else {
            code.output += contentText(d.output);
            if (typeof d.total_bytes === 'number') code.outputBytes = d.total_bytes;
            if (typeof d.risk === 'string') {
              code.outputRisk = d.risk;
              code.outputRules = strings(d.rules);
            }
          }
          break;
        }
        case AUDIT_EVENTS.error: {
          const err = { source: fieldText(d.source ?? ''), message: contentText(d.message), ...(typeof d.type === 'string' ? { type: d.type } : {}) };
          const turn = turnOf(d);
          if (turn) {
            turn.errors.push(err);
            const code = err.source === 'execution' ? codeOf(d) : undefined;
            if (code) code.error = true;
          } else view.sessionErrors.push(err);
          break;
        }
        case AUDIT_EVENTS.settingsRefused:
          view.refusedSettings.push({ setting: fieldText(d.setting ?? ''), reason: fieldText(d.reason ?? '') });
          break;
        case AUDIT_EVENTS.auditLoss:
          view.losses.push({ lost: num(d.lost) ?? 0, reason: fieldText(d.reason ?? '') });
          break;
        case AUDIT_EVENTS.integrityCheckpoint:
          view.checkpoints++;
          break;
      }
    }
    view.turns = [...turns.values()].sort((a, b) => a.index - b.index);
    sessions.push(view);
  }
  return sessions.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}
