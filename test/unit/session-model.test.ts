import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { linkHashOfBody } from '../../src/integrity/link.js';
import type { JsonObject } from '../../src/record/canonical-json.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** A two-turn session through the library API, as the Open Interpreter adapter drives it. */
function runSession(capture: 'full' | 'hash' = 'full') {
  const h = inMemoryRecorder({ config: { capture } });
  const session = h.recorder.openSession({ userId: 'alice@example.com', model: 'gpt-test', policy: 'policy', clientAddress: '127.0.0.1' });
  const turn = session.startTurn('list the files please');
  const gen = turn.startGeneration({ model: 'gpt-test', provider: 'openai', stream: true, messages: [{ role: 'user', content: 'list the files please' }] });
  gen.firstChunk();
  gen.end({ content: '```shell\nls /nope\n```', finishReasons: ['stop'], inputTokens: 12, outputTokens: 7 });
  const exec = turn.proposeCode({ language: 'shell', code: 'ls /nope' });
  exec.decide({ decision: 'approved', decider: 'policy' });
  exec.started();
  exec.output('ls: cannot access /nope: No such file or directory\n');
  exec.end({ error: true, errorMessage: 'ls: cannot access /nope' });
  turn.end('complete');
  const turn2 = session.startTurn('thanks');
  turn2.startGeneration({ model: 'gpt-test', provider: 'openai', stream: true, messages: [] }).end({ content: 'Done.' });
  turn2.end('complete');
  session.end('complete');
  return { ...h, session };
}

describe('session model', () => {
  it('puts every span and log record of a session in one trace', () => {
    const { spans, logs } = runSession();
    const traceIds = new Set([
      ...spans.getFinishedSpans().map((s) => s.spanContext().traceId),
      ...logs.getFinishedLogRecords().map((r) => r.spanContext?.traceId),
    ]);
    expect(traceIds.size).toBe(1);
    expect([...traceIds][0]).toMatch(/^[0-9a-f]{32}$/);
  });

  it('nests generation and execution spans under the prompt span under the session root', () => {
    const { spans } = runSession();
    const finished = spans.getFinishedSpans();
    const root = finished.find((s) => s.name === 'invoke_agent open-interpreter')!;
    expect(root).toBeDefined();
    expect(root.parentSpanContext).toBeUndefined();
    const prompts = finished.filter((s) => s.name === 'oi_audit.prompt');
    expect(prompts).toHaveLength(2);
    for (const p of prompts) expect(p.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    const gens = finished.filter((s) => s.name === 'chat gpt-test');
    expect(gens).toHaveLength(2);
    const exec = finished.find((s) => s.name === 'execute_tool shell')!;
    expect(exec.parentSpanContext?.spanId).toBe(prompts[0]!.spanContext().spanId);
    expect(gens[0]!.parentSpanContext?.spanId).toBe(prompts[0]!.spanContext().spanId);
    expect(gens[1]!.parentSpanContext?.spanId).toBe(prompts[1]!.spanContext().spanId);
    expect(gens[0]!.attributes['gen_ai.operation.name']).toBe('chat');
    expect(gens[0]!.attributes['gen_ai.usage.input_tokens']).toBe(12);
    expect(gens[0]!.attributes['gen_ai.response.finish_reasons']).toEqual(['stop']);
    expect(exec.attributes['oi_audit.code.sha256']).toBe(sha256('ls /nope'));
    expect(exec.attributes['oi_audit.approval.decision']).toBe('approved');
    expect(exec.attributes['oi_audit.execution.error']).toBe(true);
    expect(root.attributes['session.id']).toBeTruthy();
    expect(root.attributes['enduser.pseudo.id']).not.toContain('alice');
  });

  it('records the six data points as log records with the right event.name, tied to their spans', () => {
    const { logs, spans } = runSession();
    const records = logs.getFinishedLogRecords();
    const names = records.map((r) => r.attributes['event.name']);
    for (const required of [
      AUDIT_EVENTS.userInput,
      AUDIT_EVENTS.llmRequest,
      AUDIT_EVENTS.codeGenerated,
      AUDIT_EVENTS.commandExecuted,
      AUDIT_EVENTS.commandOutput,
      AUDIT_EVENTS.error,
    ]) {
      expect(names).toContain(required);
    }
    const spanIds = new Set(spans.getFinishedSpans().map((s) => s.spanContext().spanId));
    for (const r of records) {
      expect(r.eventName).toBe(r.attributes['event.name']);
      expect(spanIds.has(r.spanContext!.spanId)).toBe(true);
    }
    const output = records.find((r) => r.attributes['event.name'] === AUDIT_EVENTS.commandOutput)!;
    const exec = spans.getFinishedSpans().find((s) => s.name === 'execute_tool shell')!;
    expect(output.spanContext!.spanId).toBe(exec.spanContext().spanId);
  });

  it('chains bodies: seq strictly increasing without gaps, prev = D of the previous body (scheme 3)', () => {
    const { logs, bodies } = runSession();
    const raw = logs.getFinishedLogRecords().map((r) => (r.body as string));
    const parsed = bodies();
    expect(parsed[0]!.prev).toBe('0'.repeat(64));
    parsed.forEach((b, i) => {
      expect(b.seq).toBe(i);
      if (i > 0) expect(b.prev).toBe(linkHashOfBody(JSON.parse(raw[i - 1]!) as JsonObject));
      if (i > 0) expect(b.prev).not.toBe(sha256(raw[i - 1]!));
      expect(b.session).toBe(parsed[0]!.session);
    });
    expect(parsed.at(-2)!.event).toBe(AUDIT_EVENTS.sessionEnd);
    expect(parsed.at(-1)!.event).toBe(AUDIT_EVENTS.integrityCheckpoint);
  });

  it('writes bodies in RFC 8785 canonical form (sorted keys, no whitespace)', () => {
    const { logs } = runSession();
    for (const r of logs.getFinishedLogRecords()) {
      const body = r.body as string;
      const keys = Object.keys(JSON.parse(body));
      expect(keys).toEqual([...keys].sort());
      expect(body).not.toMatch(/":\s|,\s"/);
    }
  });

  it('records content under the capture policy: hash mode keeps only length and SHA-256', () => {
    const { bodies } = runSession('hash');
    const input = bodies().find((b) => b.event === AUDIT_EVENTS.userInput)!;
    expect(input.data.input).toEqual({ mode: 'hash', sha256: sha256('list the files please'), bytes: 21 });
    expect(JSON.stringify(bodies())).not.toContain('list the files please');
    const full = runSession('full').bodies().find((b) => b.event === AUDIT_EVENTS.userInput)!;
    expect(full.data.input.text).toBe('list the files please');
    expect(full.data.input.sha256).toBe(sha256('list the files please'));
  });

  it('binds the approval decision to the code SHA-256 and refuses to run unapproved code', () => {
    const { recorder, bodies } = inMemoryRecorder();
    const session = recorder.openSession({ userId: 'bob' });
    const turn = session.startTurn('go');
    const exec = turn.proposeCode({ language: 'python', code: 'print(1)' });
    expect(() => exec.started()).toThrow(/without an approval/);
    exec.decide({ decision: 'refused', decider: 'policy', reason: 'test' });
    const decision = bodies().find((b) => b.event === AUDIT_EVENTS.approvalDecision)!;
    expect(decision.data).toMatchObject({ decision: 'refused', code_sha256: sha256('print(1)'), reason: 'test' });
    session.end();
  });

  it('never records the raw user id, only its keyed pseudonym', () => {
    const { logs, spans } = runSession();
    const everything = JSON.stringify([
      logs.getFinishedLogRecords().map((r) => [r.body, r.attributes]),
      spans.getFinishedSpans().map((s) => s.attributes),
    ]);
    expect(everything).not.toContain('alice@example.com');
  });

  it('keeps the host running when an event hook throws', () => {
    const { recorder } = inMemoryRecorder({
      onEvent: () => {
        throw new Error('hook bug');
      },
    });
    const session = recorder.openSession({ userId: 'x' });
    expect(() => session.startTurn('hi').end()).not.toThrow();
    session.end();
  });

  it('ends open turns, generations and executions when the session ends, leaving no stream without an end', () => {
    const { recorder, bodies, spans } = inMemoryRecorder();
    const session = recorder.openSession({ userId: 'x' });
    const turn = session.startTurn('hi');
    turn.startGeneration({ model: 'm', provider: 'openai', messages: [], stream: true });
    turn.proposeCode({ language: 'python', code: 'x=1' }).decide({ decision: 'approved', decider: 'user' });
    recorder.endAll('shutdown');
    const events = bodies().map((b) => b.event);
    expect(events).toContain(AUDIT_EVENTS.sessionEnd);
    expect(events.at(-1)).toBe(AUDIT_EVENTS.integrityCheckpoint);
    expect(spans.getFinishedSpans()).toHaveLength(4);
    expect(recorder.activeSessions).toHaveLength(0);
  });
});
