/**
 * Turns what the Codex app-server says during one session into audit records, and answers its gates:
 *
 * - the PreToolUse hook (every tool call, before Codex's own approval logic): the call is recorded as a
 *   proposed execution and decided by the session's approval hook (policy, terminal, gateway client); the
 *   decision is bound to SHA-256(command, cwd, itemId). `deny` keeps it from running at all.
 * - `item/commandExecution/requestApproval` (commands Codex does not deem safe): answered `accept` only when
 *   the command line it will run unwraps to exactly the command the hook approved, in the same cwd; without a
 *   hook decision for the item (a tool the hook does not cover, a hook that failed) the request itself goes
 *   to the approval hook, bound to the request's own (command, cwd, itemId). Answers are only `accept`,
 *   `decline` or `cancel` — never `acceptForSession` or an amendment, which would approve commands unseen.
 * - `item/fileChange/requestApproval`: the item's diffs are the "code"; decided the same way.
 * - items: output deltas, exit code and duration of commands; file changes; agent messages.
 *
 * Anything that runs without an oi-audit approval (only possible when the hook failed, which Codex treats
 * as "no objection") is recorded as a protocol error and the turn is interrupted.
 */
import { createHash } from 'node:crypto';
import type { ApprovalInfo, AuditExecution, RiskAssessment } from '../../audit/execution.js';
import type { AuditSession } from '../../audit/session.js';
import type { AuditTurn, TurnOutcome } from '../../audit/turn.js';
import { MAX_SCAN_CHARS } from '../../detect/engine.js';
import type { SessionDetector } from '../session/detector.js';
import type { ApprovalHook } from '../../approval/hook.js';
import type { TurnResult } from '../session/turn-result.js';
import type { JsonObject } from '../../record/canonical-json.js';
import { escapeForLog } from '../../record/escape.js';
import * as A from '../../semconv/attributes.js';
import { maxRisk } from '../../semconv/events.js';
import { bindingSha256, matchesApproved, modelCommand } from './binding.js';
import type { HookAnswer } from './hook-server.js';
import { checkDisk, describeChanges, fileChangeData } from './file-change-record.js';
import { OpenTurn, type ItemRecord } from './open-turn.js';
import { applyPatchOfCommand, changeOperations, operationsAsShell, operationsKey, patchOperations, type FileOp } from './patch.js';
import { isObject } from '../../record/json-shape.js';

export type ApprovalAnswer = 'accept' | 'decline' | 'cancel';

/** What the recorder needs from the app-server connection. */
export interface RecorderTransport {
  respond(id: number | string, result: unknown): void;
  respondError(id: number | string, error: { code: number; message: string }): void;
  interrupt(turnId: string): void;
}

export interface TurnRecorderOptions {
  approve: ApprovalHook;
  detect: SessionDetector;
  auditHealthy?: () => boolean;
}

type Obj = Record<string, unknown>;

const LABEL_CHARS = 100;
const MAX_PROTOCOL_ERRORS_PER_TURN = 100;
const ORPHAN_HEAD_CHARS = 64 * 1024;

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
function label(value: string): string {
  return escapeForLog(value.length > LABEL_CHARS ? `${value.slice(0, LABEL_CHARS)}…` : value);
}

export class TurnRecorder {
  private open: OpenTurn | undefined;
  private threadId = '';

  constructor(
    private readonly session: AuditSession,
    private readonly transport: RecorderTransport,
    private readonly options: TurnRecorderOptions,
  ) {}

  setThread(threadId: string): void {
    this.threadId = threadId;
  }

  get activeTurn(): AuditTurn | undefined {
    return this.open?.turn;
  }

  get codexTurnId(): string | undefined {
    return this.open?.codexTurnId;
  }

  /** Approvals (hook or request) still waiting for a decision: the turn is not idle while one is. */
  get pendingDecisions(): number {
    return this.open?.pendingDecisions ?? 0;
  }

  /** Open the turn's records (the caller then sends turn/start). */
  begin(input: string): AuditTurn {
    const risk = this.options.detect.input(input);
    const turn = this.session.startTurn(input, risk.level !== 'none' ? { risk: risk.level, rules: risk.rules, thread_id: this.threadId } : { thread_id: this.threadId });
    this.open = new OpenTurn(turn);
    return turn;
  }

  /** Codex accepted turn/start: its turn id. */
  started(codexTurnId: string): void {
    if (!this.open) return;
    this.open.codexTurnId = codexTurnId;
    this.open.turn.span.setAttribute(A.ATTR_AGENT_TURN_ID, codexTurnId);
  }

  /** Resolves when Codex reports the turn completed (or `abort` ends it). */
  get finished(): Promise<TurnOutcome> {
    return this.open?.finished ?? Promise.resolve('complete');
  }

  /** The turn ends without Codex saying so (process died, timeout): records why. */
  abort(outcome: TurnOutcome, error: { source: 'process' | 'server'; type: string; message: string }): void {
    const t = this.open;
    if (!t) return;
    t.result.errors.push(error.message);
    t.turn.recordError(error);
    t.done(outcome);
  }

  /** Close the turn's records and return its result. */
  end(outcome: TurnOutcome): TurnResult {
    const t = this.open;
    if (!t) return { outcome, executed: 0, refused: 0, errors: [], refusals: [] };
    this.open = undefined;
    this.flushOrphan(t);
    for (const rec of t.items.values()) {
      if (!rec.exec.isEnded) rec.exec.end({ interrupted: rec.started });
    }
    if (t.suppressed > 0) {
      t.turn.recordError({ source: 'protocol', type: 'protocol_errors_suppressed', message: `${t.suppressed} more protocol error(s) in this turn were not recorded one by one` });
    }
    const final: TurnOutcome = outcome === 'complete' && t.result.refused > 0 ? 'refused' : outcome;
    t.result.outcome = final;
    t.turn.end(final);
    return t.result;
  }

  // --- protocol anomalies -----------------------------------------------------------------------------------

  protocolError(type: string, message: string, key?: string): void {
    const t = this.open;
    if (!t) {
      if (!this.session.isEnded) this.session.recordError({ source: 'protocol', type, message });
      return;
    }
    if (key !== undefined) {
      if (t.seenProtocol.has(key)) return;
      if (t.seenProtocol.size < MAX_PROTOCOL_ERRORS_PER_TURN) t.seenProtocol.add(key);
    }
    if (t.protocolErrors >= MAX_PROTOCOL_ERRORS_PER_TURN) {
      t.suppressed++;
      return;
    }
    t.protocolErrors++;
    t.turn.recordError({ source: 'protocol', type, message });
  }

  private interrupt(t: OpenTurn, why: string): void {
    if (t.interruptRequested || !t.codexTurnId) return;
    t.interruptRequested = true;
    this.protocolError('turn_interrupted', `oi-audit interrupted the turn: ${why}`);
    try {
      this.transport.interrupt(t.codexTurnId);
    } catch {
      // the connection is gone; its end is recorded elsewhere
    }
  }

  private flushOrphan(t: OpenTurn): void {
    const o = t.orphan;
    if (!o) return;
    t.orphan = undefined;
    this.protocolError(
      'output_without_execution',
      `output of ${[...o.items].map(label).join(', ')} arrived while no oi-audit-approved execution was running (${o.bytes} bytes, sha256 ${o.hash.digest('hex')}):\n${o.head}`,
    );
  }

  // --- decisions ----------------------------------------------------------------------------------------------

  private async decide(t: OpenTurn, exec: AuditExecution, code: string, binding: JsonObject): Promise<ApprovalInfo> {
    let approval: ApprovalInfo;
    if (this.options.auditHealthy && !this.options.auditHealthy()) {
      approval = { decision: 'refused', decider: 'fail_closed', reason: 'audit unavailable' };
    } else {
      t.pendingDecisions++;
      try {
        approval = await this.options.approve({
          sessionId: this.session.id,
          turn: t.turn.index,
          index: exec.index,
          language: exec.language,
          code,
          codeSha256: exec.codeSha256,
          risk: exec.risk,
        });
      } catch (error) {
        approval = { decision: 'refused', decider: 'policy', reason: `approval hook failed: ${(error as Error).message}` };
      } finally {
        t.pendingDecisions--;
      }
    }
    // Throws when the session ended meanwhile: callers answer deny/decline then (nothing recorded, nothing runs).
    exec.decide(approval, binding);
    if (approval.decision === 'refused') {
      t.result.refused++;
      t.result.refusals.push({ index: t.result.refusals.length, decider: approval.decider, ...(approval.reason ? { reason: approval.reason } : {}), rules: approval.rules ?? [] });
    }
    return approval;
  }

  private bindingData(gate: string, command: string, cwd: string, itemId: string): JsonObject {
    return {
      gate,
      item_id: itemId,
      binding_sha256: bindingSha256(command, cwd, itemId),
      cwd: this.session.capture('code', cwd),
    };
  }

  /** A patch is judged as the shell writes with the same effect (and as its own text). */
  private patchRisk(code: string, ops: FileOp[]): RiskAssessment {
    const own = this.options.detect.code('shell', code);
    const writes = this.options.detect.code('shell', operationsAsShell(ops));
    return { level: maxRisk(own.level, writes.level), rules: [...new Set([...own.rules, ...writes.rules])] };
  }

  private propose(t: OpenTurn, itemId: string, language: string, code: string, risk?: RiskAssessment): ItemRecord {
    risk ??= this.options.detect.code(language === 'patch' ? 'shell' : language, code);
    const exec = t.turn.proposeCode({ language, code, risk });
    exec.span.setAttribute(A.ATTR_EXECUTION_ITEM_ID, itemId);
    const rec: ItemRecord = { itemId, exec, started: false, sawDelta: false, riskHead: '', unapprovedReported: false };
    t.items.set(itemId, rec);
    return rec;
  }

  private startRec(t: OpenTurn, rec: ItemRecord, extra: JsonObject): void {
    if (rec.started || rec.exec.isEnded) return;
    rec.started = true;
    rec.exec.started(extra);
    t.result.executed++;
  }

  /** Output or a completion for an item nobody approved through oi-audit. */
  private unapproved(t: OpenTurn, rec: ItemRecord | undefined, itemId: string, what: string): void {
    if (rec && !rec.unapprovedReported) {
      rec.unapprovedReported = true;
      this.protocolError('execution_without_approval', `${what} ${label(itemId)} ran without an oi-audit approval (the PreToolUse hook did not decide it)`);
    } else if (!rec) {
      this.protocolError('execution_without_approval', `${what} ${label(itemId)} ran without an oi-audit approval`, `unapproved:${itemId}`);
    }
    this.interrupt(t, `${label(itemId)} ran without an oi-audit approval`);
  }

  // --- the PreToolUse hook -----------------------------------------------------------------------------------

  /** One PreToolUse hook call (from the hook socket). Never throws: a failure answers deny. */
  async hook(input: Obj): Promise<HookAnswer> {
    const t = this.open;
    const itemId = str(input.tool_use_id) ?? '';
    const toolName = str(input.tool_name) ?? '';
    if (!t || this.session.isEnded) {
      this.protocolError('hook_outside_turn', `PreToolUse hook for ${label(toolName)} ${label(itemId)} arrived while no turn was active: denied`);
      return { decision: 'deny', reason: 'oi-audit: no audited turn is active: denied' };
    }
    if (str(input.session_id) !== this.threadId || (t.codexTurnId !== undefined && str(input.turn_id) !== t.codexTurnId) || !itemId) {
      this.protocolError(
        'hook_mismatch',
        `PreToolUse hook for session ${label(str(input.session_id) ?? '?')} turn ${label(str(input.turn_id) ?? '?')} item ${label(itemId || '?')} does not belong to this session's active turn: denied`,
      );
      return { decision: 'deny', reason: 'oi-audit: hook call does not belong to the active turn: denied' };
    }
    if (t.items.has(itemId)) {
      this.protocolError('hook_repeated', `a second PreToolUse hook call for item ${label(itemId)}: denied`);
      return { decision: 'deny', reason: 'oi-audit: repeated hook call for one item: denied' };
    }
    const toolInput = isObject(input.tool_input) ? input.tool_input : {};
    const command = toolName === 'Bash' ? str(toolInput.command) : undefined;
    const code = command ?? JSON.stringify(toolInput);
    const cwd = str(input.cwd) ?? '';
    // A shell call of apply_patch becomes a file change, not a process: judged as the writes it makes.
    const patch =
      command !== undefined
        ? applyPatchOfCommand(command)
        : /^apply_?patch$/i.test(toolName)
          ? (str(toolInput.input) ?? str(toolInput.command) ?? str(toolInput.patch))
          : undefined;
    const ops = patch !== undefined ? patchOperations(patch, cwd) : undefined;
    const rec = ops
      ? this.propose(t, itemId, 'patch', code, this.patchRisk(code, ops))
      : this.propose(t, itemId, toolName === 'Bash' ? 'shell' : label(toolName || 'tool').toLowerCase(), code);
    rec.hooked = { command: code, cwd };
    if (ops) rec.approvedOps = ops;
    const approval = await this.decide(t, rec.exec, code, {
      ...this.bindingData('pre_tool_use', code, cwd, itemId),
      tool: label(toolName),
      ...(ops ? { files: this.session.capture('code', operationsKey(ops)) } : {}),
    });
    if (approval.decision === 'approved') return { decision: 'allow' };
    return { decision: 'deny', reason: `oi-audit refused this command: ${approval.reason ?? 'refused'}` };
  }

  // --- server requests ------------------------------------------------------------------------------------

  /** A request from the app-server (approvals and the rest). */
  async request(id: number | string, method: string, params: Obj): Promise<void> {
    const answer = (decision: ApprovalAnswer) => this.transport.respond(id, { decision });
    const t = this.open;
    if (method === 'item/commandExecution/requestApproval' || method === 'item/fileChange/requestApproval') {
      if (!t || this.session.isEnded || str(params.turnId) !== t.codexTurnId) {
        this.protocolError('approval_outside_turn', `${method} for item ${label(str(params.itemId) ?? '?')} outside the active turn: cancelled`);
        answer('cancel');
        return;
      }
      try {
        answer(method === 'item/commandExecution/requestApproval' ? await this.commandApproval(t, params) : await this.fileApproval(t, params));
      } catch (err) {
        // Recording failed (session ended meanwhile, audit down): nothing runs that the audit did not record.
        answer('decline');
        this.protocolError('approval_failed', `could not record the approval for ${label(str(params.itemId) ?? '?')}: ${(err as Error).message}; declined`);
      }
      return;
    }
    if (method === 'item/permissions/requestApproval') {
      // More file-system or network access than the session's sandbox: oi-audit has no policy that could grant it,
      // so it is answered with an empty grant (nothing added), and the request is recorded with what it asked for.
      const asked = JSON.stringify(params.permissions ?? null);
      const where = t ?? undefined;
      const message = `the agent asked for more permissions for ${label(str(params.itemId) ?? '?')} (${label(asked)}${str(params.reason) ? `; reason: ${label(str(params.reason)!)}` : ''}): nothing granted`;
      if (where && !this.session.isEnded) {
        where.result.refused++;
        where.result.refusals.push({ index: where.result.refusals.length, decider: 'policy', reason: 'permission requests are not granted under oi-audit', rules: [] });
      }
      this.protocolError('permissions_refused', message);
      this.transport.respond(id, { permissions: {}, scope: 'turn' });
      return;
    }
    // Every other request (user input, MCP elicitations, dynamic tools…) is refused:
    // oi-audit has no policy for them, so nothing is granted unseen.
    this.protocolError('unsupported_request', `the agent sent a ${label(method)} request; oi-audit does not grant it`, `request:${method}`);
    this.transport.respondError(id, { code: -32601, message: `oi-audit does not answer ${method}` });
  }

  private async commandApproval(t: OpenTurn, params: Obj): Promise<ApprovalAnswer> {
    const itemId = str(params.itemId) ?? '';
    const commandLine = str(params.command) ?? '';
    const cwd = str(params.cwd) ?? '';
    let rec = t.items.get(itemId);
    const extra = () => ({ ...this.bindingData('approval_request', commandLine, cwd, itemId), command: this.session.capture('code', commandLine) });
    if (rec?.exec.approval) {
      if (rec.exec.approval.decision !== 'approved') return 'decline';
      if (rec.hooked && matchesApproved(commandLine, cwd, rec.hooked)) {
        this.startRec(t, rec, { ...extra(), answer: 'accept', decided_at: 'pre_tool_use' });
        return 'accept';
      }
      this.protocolError(
        'approval_mismatch',
        `the approval request for ${label(itemId)} (${label(commandLine)} in ${label(cwd)}) is not the command approved at the hook (${label(rec.hooked?.command ?? '?')} in ${label(rec.hooked?.cwd ?? '?')}): declined`,
      );
      if (!rec.exec.isEnded) rec.exec.end({ interrupted: false });
      t.result.refused++;
      return 'decline';
    }
    rec ??= this.propose(t, itemId, 'shell', modelCommand(commandLine));
    const approval = await this.decide(t, rec.exec, commandLine, extra());
    if (approval.decision !== 'approved') return 'decline';
    this.startRec(t, rec, { ...extra(), answer: 'accept', decided_at: 'approval_request' });
    return 'accept';
  }

  private async fileApproval(t: OpenTurn, params: Obj): Promise<ApprovalAnswer> {
    const itemId = str(params.itemId) ?? '';
    let rec = t.items.get(itemId);
    const changes = rec?.changes ?? '';
    const ops = rec?.itemOps ?? [];
    if (rec?.exec.approval) {
      if (rec.exec.approval.decision !== 'approved') return 'decline';
      // Approved at the hook: only the very file operations the hook judged may be applied.
      if (!this.patchMatchesApproval(t, rec)) {
        if (!rec.exec.isEnded) rec.exec.end({ interrupted: false });
        t.result.refused++;
        return 'decline';
      }
      this.startRec(t, rec, { ...fileChangeData(this.session, changes, ops, rec.approvedOps ? rec.exec.codeSha256 : undefined), gate: 'approval_request', item_id: itemId, answer: 'accept', decided_at: 'pre_tool_use' });
      return 'accept';
    }
    // No hook decision (a patch tool the hook does not cover): the item's own changes are what is decided.
    rec ??= this.propose(t, itemId, 'patch', changes, this.patchRisk(changes, ops));
    const binding = {
      ...this.bindingData('approval_request', changes, str(params.grantRoot) ?? '', itemId),
      files: this.session.capture('code', operationsKey(ops)),
      ...(str(params.reason) ? { agent_reason: this.session.capture('code', str(params.reason)!) } : {}),
      ...(str(params.grantRoot) ? { grant_root: this.session.capture('code', str(params.grantRoot)!) } : {}),
    };
    const approval = await this.decide(t, rec.exec, changes, binding);
    if (approval.decision !== 'approved') return 'decline';
    this.startRec(t, rec, { ...fileChangeData(this.session, changes, ops, rec.approvedOps ? rec.exec.codeSha256 : undefined), gate: 'approval_request', item_id: itemId, answer: 'accept', decided_at: 'approval_request' });
    return 'accept';
  }

  /**
   * A hook-approved item is a file change: it must be the patch the hook approved, operation for operation.
   * False (recorded, the turn interrupted when it already runs) otherwise.
   */
  private patchMatchesApproval(t: OpenTurn, rec: ItemRecord): boolean {
    const approved = rec.approvedOps ? operationsKey(rec.approvedOps) : undefined;
    const applied = operationsKey(rec.itemOps ?? []);
    if (approved !== undefined && approved === applied) return true;
    this.protocolError(
      'approval_mismatch',
      approved === undefined
        ? `the agent turned ${label(rec.itemId)}, approved at the hook as a command (${label(rec.hooked?.command ?? '?')}), into a file change of ${label(applied || 'no files')}: declined`
        : `the file change ${label(rec.itemId)} (${label(applied || 'no files')}) is not the patch approved at the hook (${label(approved || 'no files')}): declined`,
    );
    return false;
  }

  // --- notifications --------------------------------------------------------------------------------------

  notification(method: string, params: Obj): void {
    const t = this.open;
    switch (method) {
      case 'turn/started':
        return;
      case 'turn/completed': {
        if (!t) return;
        const turn = isObject(params.turn) ? params.turn : {};
        if (str(turn.id) && t.codexTurnId && str(turn.id) !== t.codexTurnId) return;
        const status = str(turn.status);
        if (status === 'failed' && isObject(turn.error)) {
          const message = str(turn.error.message) ?? JSON.stringify(turn.error);
          if (!t.result.errors.includes(message)) {
            t.result.errors.push(message);
            t.turn.recordError({ source: 'server', type: 'turn_failed', message });
          }
        }
        t.done(status === 'completed' ? 'complete' : status === 'interrupted' ? 'stopped' : 'error');
        return;
      }
      case 'error': {
        const error = isObject(params.error) ? params.error : {};
        const message = str(error.message) ?? JSON.stringify(error);
        const info = error.codexErrorInfo;
        const type = typeof info === 'string' ? info : isObject(info) ? (Object.keys(info)[0] ?? 'agent_error') : 'agent_error';
        if (t) {
          t.result.errors.push(message);
          t.turn.recordError({ source: 'server', type: label(type), message: params.willRetry === true ? `${message} (the agent retries)` : message });
        } else if (!this.session.isEnded) this.session.recordError({ source: 'server', type: label(type), message });
        return;
      }
      case 'configWarning':
        this.protocolError('config_warning', `agent configuration warning: ${str(params.summary) ?? ''} ${str(params.details) ?? ''}`.trim(), `cfg:${str(params.summary) ?? ''}`);
        return;
      case 'item/started':
        if (t && isObject(params.item)) this.itemStarted(t, params.item);
        return;
      case 'item/completed':
        if (t && isObject(params.item)) this.itemCompleted(t, params.item);
        return;
      case 'item/commandExecution/outputDelta':
      case 'item/fileChange/outputDelta':
        if (t) this.outputDelta(t, str(params.itemId) ?? '', str(params.delta) ?? '');
        return;
      case 'hook/completed':
        if (t && isObject(params.run)) this.hookCompleted(t, params.run);
        return;
      default:
        return; // deltas of messages/reasoning, token usage, status changes: the proxy and items carry the evidence
    }
  }

  private itemStarted(t: OpenTurn, item: Obj): void {
    const type = str(item.type);
    const itemId = str(item.id) ?? '';
    if (type === 'commandExecution') {
      if (!t.items.has(itemId)) this.propose(t, itemId, 'shell', modelCommand(str(item.command) ?? ''));
      return;
    }
    if (type === 'fileChange') {
      const changes = describeChanges(item.changes);
      const ops = changeOperations(item.changes, this.cwdOf(t.items.get(itemId)));
      let rec = t.items.get(itemId);
      if (!rec) rec = this.propose(t, itemId, 'patch', changes, this.patchRisk(changes, ops));
      rec.changes = changes;
      rec.itemOps = ops;
      return;
    }
    if (type === 'mcpToolCall' || type === 'dynamicToolCall' || type === 'webSearch' || type === 'collabAgentToolCall' || type === 'imageGeneration') {
      this.protocolError('unaudited_tool', `the agent started a ${label(type)} item (${label(itemId)}), which oi-audit does not gate`, `item:${type}`);
    }
  }

  /** The directory a file change's relative paths resolve against: the hook's cwd, else the session's. */
  private cwdOf(rec: ItemRecord | undefined): string {
    return rec?.hooked?.cwd ?? '/';
  }

  private outputDelta(t: OpenTurn, itemId: string, delta: string): void {
    const rec = t.items.get(itemId);
    if (rec && !rec.started && rec.exec.approval?.decision === 'approved') {
      // Codex ran it without asking (it deems the command safe): the hook's approval is what let it run.
      this.startRec(t, rec, { gate: 'auto_approved', item_id: itemId, decided_at: 'pre_tool_use' });
    }
    if (rec?.started && !rec.exec.isEnded) {
      if (delta.length === 0) return;
      rec.sawDelta = true;
      if (rec.riskHead.length < MAX_SCAN_CHARS) rec.riskHead += delta.slice(0, MAX_SCAN_CHARS - rec.riskHead.length);
      rec.exec.output(delta);
      return;
    }
    t.orphan ??= { bytes: 0, hash: createHash('sha256'), head: '', items: new Set() };
    t.orphan.items.add(itemId);
    t.orphan.bytes += Buffer.byteLength(delta, 'utf8');
    t.orphan.hash.update(delta, 'utf8');
    if (t.orphan.head.length < ORPHAN_HEAD_CHARS) t.orphan.head += delta.slice(0, ORPHAN_HEAD_CHARS - t.orphan.head.length);
    this.unapproved(t, rec, itemId, 'command');
  }

  private itemCompleted(t: OpenTurn, item: Obj): void {
    const type = str(item.type);
    const itemId = str(item.id) ?? '';
    if (type === 'agentMessage') {
      t.turn.assistantMessage(str(item.text) ?? '');
      return;
    }
    if (type !== 'commandExecution' && type !== 'fileChange') return;
    const rec = t.items.get(itemId);
    const status = str(item.status);
    if (status === 'declined') {
      if (rec && !rec.exec.isEnded) rec.exec.end({ interrupted: false });
      return;
    }
    if (!rec || rec.exec.approval?.decision !== 'approved') {
      if (status === 'completed' || status === 'failed') this.unapproved(t, rec, itemId, type === 'fileChange' ? 'file change' : 'command');
      if (rec && !rec.exec.isEnded && !rec.exec.approval) rec.exec.end({ interrupted: false });
      return;
    }
    if (!rec.started) {
      if (type === 'fileChange' && !this.patchMatchesApproval(t, rec)) {
        // Applied without asking and not the approved patch: recorded as run unapproved.
        this.unapproved(t, rec, itemId, 'file change');
        rec.exec.end({ interrupted: false });
        return;
      }
      this.startRec(t, rec, { ...(type === 'fileChange' ? fileChangeData(this.session, rec.changes ?? '', rec.itemOps ?? [], rec.approvedOps ? rec.exec.codeSha256 : undefined) : {}), gate: 'auto_approved', item_id: itemId, decided_at: 'pre_tool_use' });
    }
    if (type === 'commandExecution') {
      const aggregated = str(item.aggregatedOutput);
      if (!rec.sawDelta && aggregated) {
        rec.riskHead = aggregated.slice(0, MAX_SCAN_CHARS);
        rec.exec.output(aggregated);
      }
      const exitCode = typeof item.exitCode === 'number' ? item.exitCode : undefined;
      const durationMs = typeof item.durationMs === 'number' ? item.durationMs : undefined;
      const failed = status === 'failed' || (exitCode !== undefined && exitCode !== 0);
      const outputRisk = this.options.detect.output(rec.riskHead);
      rec.exec.end({
        error: failed,
        ...(failed ? { errorMessage: exitCode !== undefined ? `command exited with code ${exitCode}` : 'command failed' } : {}),
        interrupted: status === 'inProgress',
        outputRisk,
        ...(exitCode !== undefined ? { exitCode } : {}),
        ...(durationMs !== undefined ? { durationMs } : {}),
      });
    } else {
      checkDisk(this.session, rec.exec, rec.itemOps ?? [], status);
      rec.exec.end({ error: status === 'failed', ...(status === 'failed' ? { errorMessage: 'the patch could not be applied' } : {}) });
    }
  }

  private hookCompleted(t: OpenTurn, run: Obj): void {
    if (str(run.eventName) !== 'preToolUse') return;
    const runId = str(run.id) ?? '';
    const itemId = runId.slice(runId.lastIndexOf(':') + 1);
    const status = str(run.status);
    const entries = Array.isArray(run.entries) ? run.entries.map((e) => (isObject(e) ? str(e.text) ?? '' : '')).filter(Boolean).join('; ') : '';
    if (status === 'failed') {
      // Codex goes on as if the hook had no objection: nothing may run on that.
      this.protocolError('hook_failed', `the PreToolUse hook failed for ${label(itemId)}: ${entries || 'no detail'}`);
      this.interrupt(t, `the PreToolUse hook failed for ${label(itemId)}`);
      return;
    }
    if (status === 'blocked') {
      const rec = t.items.get(itemId);
      if (!rec || rec.exec.approval?.decision === 'approved') {
        // Denied without oi-audit deciding it: the hook could not reach this session (fail-closed).
        t.result.refused++;
        t.turn.recordError({ source: 'audit', type: 'hook_denied', message: `the PreToolUse hook denied ${label(itemId)} without an oi-audit decision: ${entries || 'no detail'}` });
      }
    }
  }
}
