/** ECS mapping of audit bodies from a real session. */
import { describe, expect, it } from 'vitest';
import { linkHashOfBody } from '../../src/integrity/link.js';
import type { JsonObject } from '../../src/record/canonical-json.js';
import { AUDIT_EVENT_NAMES } from '../../src/semconv/events.js';
import { ECS_ALLOWED, toEcs } from '../../src/siem/index.js';
import { everyEventSession } from '../helpers/every-event-session.js';

const run = everyEventSession();

const mapped = run.bodies.map((b) => ({ body: JSON.parse(b) as Record<string, any>, raw: b, doc: toEcs(b, { user: 'k1.pseudonym', hostname: 'ws-7' }) as Record<string, any> }));
const docsOf = (event: string) => mapped.filter((m) => m.body.event === event).map((m) => m.doc);

describe('ECS mapping', () => {
  it('covers every audit event type', () => {
    expect(run.missing).toEqual([]);
    expect(new Set(mapped.map((m) => m.doc.event.action))).toEqual(new Set(AUDIT_EVENT_NAMES));
  });

  it('uses only allowed categorisation values', () => {
    for (const { doc } of mapped) {
      expect(ECS_ALLOWED.kind).toContain(doc.event.kind);
      for (const c of doc.event.category) expect(ECS_ALLOWED.category).toContain(c);
      for (const t of doc.event.type) expect(ECS_ALLOWED.type).toContain(t);
      expect(ECS_ALLOWED.outcome).toContain(doc.event.outcome);
    }
  });

  it('keeps the evidence and the chain: event.original is the body, event.hash is the next prev', () => {
    for (const m of mapped) {
      expect(m.doc.event.original).toBe(m.raw);
      expect(m.doc.event.hash).toBe(linkHashOfBody(JSON.parse(m.raw) as JsonObject)); // scheme 3's D
      expect(m.doc['@timestamp']).toBe(m.body.ts);
      expect(m.doc.event.sequence).toBe(m.body.seq);
      expect(m.doc.event.id).toBe(`${m.body.session}:${m.body.seq}`);
      expect(m.doc.trace.id).toBe(m.body.trace_id);
      expect(m.doc.span.id).toBe(m.body.span_id);
      expect(m.doc.oi_audit).toMatchObject({ session: m.body.session, seq: m.body.seq, prev: m.body.prev, mac: m.body.mac });
      expect(m.doc.user.hash).toBe('k1.pseudonym');
      expect(m.doc.ecs.version).toMatch(/^8\./);
    }
    for (let i = 1; i < mapped.length; i++) expect(mapped[i]!.body.prev).toBe(mapped[i - 1]!.doc.event.hash);
  });

  it('a code block with rule hits is an alert with rule.* and threat.* (most severe first)', () => {
    const [risky, plain] = docsOf('oi_audit.code.generated');
    expect(risky!.event.kind).toBe('alert');
    expect(risky!.rule.id).toEqual(run.rules);
    expect(risky!.rule.ruleset).toBe('oi-audit');
    expect(risky!.event.risk_score).toBe(99);
    expect(risky!.event.severity).toBe(5);
    expect(risky!.threat.framework).toBe('MITRE ATT&CK');
    expect(risky!.threat.technique.id).toEqual(expect.arrayContaining(['T1003', 'T1552']));
    expect(risky!.threat.technique.subtechnique.id).toEqual(expect.arrayContaining(['T1003.008', 'T1552.004']));
    expect(risky!.threat.tactic.id).toContain('TA0006');
    expect(risky!.process.command_line).toContain('/etc/shadow');
    expect(risky!.oi_audit.code).toMatchObject({ language: 'shell', risk: 'critical' });
    expect(plain!.event.kind).toBe('event');
    expect(plain!.rule).toBeUndefined();
    expect(plain!.process).toBeUndefined(); // python is not a command line
  });

  it('approvals are allowed/denied, errors are failures with error.*, LLM calls carry gen_ai.*', () => {
    const [refused, approved] = docsOf('oi_audit.approval.decision');
    expect(refused!.event.type).toEqual(['denied']);
    expect(refused!.oi_audit.approval).toMatchObject({ decision: 'refused', decider: 'policy', rules: run.rules });
    expect(approved!.event.type).toEqual(['allowed']);
    expect(approved!.user.roles).toEqual(['approver']);
    for (const e of docsOf('oi_audit.error')) {
      expect(e.event.outcome).toBe('failure');
      expect(e.error.type).toBeTruthy();
    }
    expect(docsOf('oi_audit.llm.request')[0]!.gen_ai).toMatchObject({ request: { model: 'gpt-4o' }, provider: { name: 'openai' } });
    expect(docsOf('oi_audit.llm.response')[0]!.gen_ai).toMatchObject({ usage: { input_tokens: 120, output_tokens: 14 }, response: { model: 'gpt-4o-2024-08-06' } });
    expect(docsOf('oi_audit.session.start')[0]!).toMatchObject({ client: { address: '10.1.2.3' }, event: { category: ['session'], type: ['start'] } });
    expect(docsOf('oi_audit.settings.refused')[0]!.event).toMatchObject({ category: ['configuration'], type: ['change', 'denied'], outcome: 'failure' });
    expect(docsOf('oi_audit.integrity.checkpoint')[0]!.oi_audit.checkpoint).toMatchObject({ from_seq: expect.any(Number), to_seq: expect.any(Number) });
  });

  it('without a context the user comes from the session-start body', () => {
    const start = run.bodies.find((b) => b.includes('"oi_audit.session.start"'))!;
    expect((toEcs(start) as any).user.hash).toBe(JSON.parse(start).data.user);
    const other = run.bodies.find((b) => b.includes('"oi_audit.user.input"'))!;
    expect((toEcs(other) as any).user).toBeUndefined();
  });
});
