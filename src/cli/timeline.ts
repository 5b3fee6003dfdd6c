import type { Style } from './style.js';
import type { CodeView, SessionView } from '../read/sessions.js';

const EXCERPT_LINES = 12;

function excerpt(text: string, maxLines = EXCERPT_LINES): string[] {
  const lines = text.replace(/\n+$/, '').split('\n');
  if (lines.length <= maxLines) return lines;
  return [...lines.slice(0, maxLines), `… (${lines.length - maxLines} more lines)`];
}

function duration(ms: number | null): string {
  if (ms === null) return '?';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function indent(lines: string[], prefix: string): string[] {
  return lines.map((l) => `${prefix}${l}`);
}

function paintRisk(level: string, s: Style, label = 'risk'): string {
  return level === 'none' ? s.dim(`${label} none`) : level === 'high' || level === 'critical' ? s.red(`${label} ${level}`) : s.yellow(`${label} ${level}`);
}

const ruleList = (rules: readonly string[] | undefined) => (rules?.length ? ` [${rules.join(', ')}]` : '');

function renderCode(code: CodeView, s: Style): string[] {
  const risk = paintRisk(code.risk, s);
  const rules = ruleList(code.rules);
  const decision = code.decision === 'approved' ? s.green('approved') : code.decision === 'refused' ? s.red('refused') : s.yellow(code.decision);
  const out: string[] = [
    `${s.cyan(`code #${code.index}`)} ${code.language}  ${risk}${rules}  ${decision}${code.decider ? ` by ${code.decider}` : ''}${code.reason ? ` (${code.reason})` : ''}  ${s.dim(duration(code.durationMs))}`,
    ...indent(excerpt(code.code), '  │ '),
  ];
  if (code.executed) {
    const status = code.error ? s.red('error') : s.green('ok');
    const outRisk = code.outputRisk !== undefined ? `, ${paintRisk(code.outputRisk, s, 'output risk')}${ruleList(code.outputRules)}` : '';
    out.push(`  output ${code.outputBytes} bytes${code.images ? `, ${code.images} image(s)` : ''}, ${status}${outRisk}`);
    if (code.output.length) out.push(...indent(excerpt(code.output), '  ▏ '));
  } else if (code.decision === 'approved') {
    out.push(s.yellow('  approved but no execution recorded'));
  }
  return out;
}

/** A session as a readable terminal timeline: turns, LLM calls, code, approvals, output, errors. */
export function renderSession(session: SessionView, s: Style): string {
  const out: string[] = [];
  out.push(s.bold(`Session ${session.sessionId}`) + (session.imported ? s.dim(' (imported)') : ''));
  out.push(`  user ${session.user || '?'}  model ${session.model || '?'}  policy ${session.policy || '?'}${session.openInterpreterVersion ? `  open-interpreter ${session.openInterpreterVersion}` : ''}`);
  out.push(`  trace ${session.traceIds.join(', ')}  started ${session.startedAt}  ${duration(session.durationMs)}  outcome ${session.outcome}`);
  out.push(s.dim(`  ${session.eventCount} events, ${session.spanCount} spans, ${session.checkpoints} checkpoints`));
  for (const loss of session.losses) out.push(s.red(`  ! ${loss.lost} audit events declared lost: ${loss.reason}`));
  for (const refused of session.refusedSettings) out.push(s.yellow(`  ! refused setting ${refused.setting}: ${refused.reason}`));
  for (const err of session.sessionErrors) out.push(s.red(`  ✗ ${err.source}${err.type ? `/${err.type}` : ''}: ${excerpt(err.message, 3).join(' ⏎ ')}`));
  for (const turn of session.turns) {
    out.push('');
    const inRisk = turn.inputRisk !== undefined ? `  ${paintRisk(turn.inputRisk, s, 'input risk')}${ruleList(turn.inputRules)}` : '';
    out.push(s.bold(`Turn ${turn.index}`) + `  ${turn.startedAt}  ${duration(turn.durationMs)}  ${turn.outcome}${inRisk}`);
    out.push(...indent(excerpt(turn.input, 6), '  > '));
    for (const call of turn.llmCalls) {
      const tokens = call.inputTokens !== null || call.outputTokens !== null ? `  tokens in ${call.inputTokens ?? '?'} out ${call.outputTokens ?? '?'}` : '';
      out.push(`  ${s.cyan(`llm #${call.call}`)} ${call.model}${tokens}  ${duration(call.latencyMs)}${call.finishReasons.length ? `  finish ${call.finishReasons.join(',')}` : ''}${call.clientDisconnected ? s.dim('  (client hung up)') : ''}`);
    }
    for (const text of turn.assistant) out.push(...indent(excerpt(text, 4), '  « '));
    for (const code of turn.code) out.push(...indent(renderCode(code, s), '  '));
    for (const err of turn.errors) out.push(s.red(`  ✗ ${err.source}${err.type ? `/${err.type}` : ''}: ${excerpt(err.message, 3).join(' ⏎ ')}`));
  }
  return out.join('\n');
}
