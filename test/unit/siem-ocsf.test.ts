/** OCSF mapping of audit bodies from a real session, and the OCSF validator itself. */
import { describe, expect, it } from 'vitest';
import { linkHashOfBody } from '../../src/integrity/link.js';
import type { JsonObject } from '../../src/record/canonical-json.js';
import { AUDIT_EVENT_NAMES } from '../../src/semconv/events.js';
import { toOcsf, scriptTypeId, validateOcsf, OCSF_VERSION, type OcsfEvent } from '../../src/siem/index.js';
import { everyEventSession } from '../helpers/every-event-session.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';

const run = everyEventSession();

const mapped = run.bodies.map((b) => ({ body: JSON.parse(b) as Record<string, any>, raw: b, events: toOcsf(b, { hostname: 'ws-7', serviceName: 'oi-audit' }) }));
const primaryOf = (event: string) => mapped.filter((m) => m.body.event === event).map((m) => m.events[0]!);

describe('OCSF mapping', () => {
  it('the fixture session emits every audit event type', () => {
    expect(run.missing).toEqual([]);
  });

  it('every mapped event passes the validator', () => {
    for (const m of mapped) for (const ev of m.events) expect(validateOcsf(ev), `${m.body.event}: ${JSON.stringify(ev).slice(0, 300)}`).toEqual({ valid: true, errors: [] });
  });

  it('keeps the evidence: raw_data is the canonical body, unmapped carries the chain fields', () => {
    for (const m of mapped) {
      for (const ev of m.events) {
        expect(ev.raw_data).toBe(m.raw);
        const u = (ev.unmapped as any).oi_audit;
        expect(u).toMatchObject({ session: m.body.session, seq: m.body.seq, prev: m.body.prev, mac: m.body.mac, hash: linkHashOfBody(JSON.parse(m.raw) as JsonObject) });
        expect(ev.time).toBe(Date.parse(m.body.ts));
        expect((ev.metadata as any).version).toBe(OCSF_VERSION);
        expect((ev.metadata as any).event_code).toBe(m.body.event);
        expect((ev.trace as any).uid).toBe(m.body.trace_id);
      }
    }
    // The chain survives the mapping: each event's hash is the next one's prev.
    const hashes = mapped.map((m) => (m.events[0]!.unmapped as any).oi_audit.hash);
    for (let i = 1; i < mapped.length; i++) expect(mapped[i]!.body.prev).toBe(hashes[i - 1]);
  });

  it('maps each event to its class and activity', () => {
    const cls = (e: string) => primaryOf(e).map((ev) => [ev.class_uid, ev.activity_id, ev.type_uid]);
    expect(cls('oi_audit.code.generated')).toEqual([[1009, 99, 100999], [1009, 99, 100999]]);
    expect(cls('oi_audit.command.executed')).toEqual([[1009, 1, 100901]]);
    expect(cls('oi_audit.llm.request')).toEqual([[6003, 1, 600301], [6003, 1, 600301]]);
    expect(cls('oi_audit.llm.response')[0]).toEqual([6003, 1, 600301]);
    expect(cls('oi_audit.session.start')).toEqual([[6002, 3, 600203]]);
    expect(cls('oi_audit.session.end')).toEqual([[6002, 4, 600204]]);
    expect(cls('oi_audit.approval.decision')).toEqual([[1009, 99, 100999], [1009, 99, 100999]]);
  });

  it('Script Activity carries the code, its language type and SHA-256', () => {
    const gen = primaryOf('oi_audit.code.generated')[0]!;
    const script = gen.script as any;
    expect(script.type_id).toBe(6);
    expect(script.script_content).toContain('/etc/shadow');
    expect(script.hashes[0]).toMatchObject({ algorithm_id: 3, value: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(gen.severity_id).toBe(5);
    expect((gen.device as any).hostname).toBe('ws-7');
    expect(primaryOf('oi_audit.command.executed')[0]!.script).toMatchObject({ type_id: 3, script_content: 'print(1 + 1)' });
    expect([scriptTypeId('python'), scriptTypeId('bash'), scriptTypeId('javascript'), scriptTypeId('r')]).toEqual([3, 6, 4, 99]);
  });

  it('API Activity carries the AI operation profile: model, provider, tokens, conversation', () => {
    const req = primaryOf('oi_audit.llm.request')[0]!;
    expect(req.api).toMatchObject({ operation: 'chat.completions' });
    expect(req.ai_model).toEqual({ name: 'gpt-4o', ai_provider: 'openai' });
    expect((req.metadata as any).profiles).toEqual(expect.arrayContaining(['ai_operation', 'trace']));
    const res = primaryOf('oi_audit.llm.response')[0]!;
    expect(res.message_context).toMatchObject({ uid: run.records[0]!.attributes['session.id'], prompt_tokens: 120, completion_tokens: 14, total_tokens: 134 });
    expect(res.status_id).toBe(1);
  });

  it('one Detection Finding per rule hit, with ATT&CK technique, sub-technique, tactic and version', () => {
    const m = mapped.find((x) => x.body.event === 'oi_audit.code.generated' && x.body.data.rules.length > 0)!;
    const findings = m.events.slice(1);
    expect(findings.map((f) => (f.finding_info as any).analytic.uid)).toEqual(run.rules);
    const cred = findings.find((f) => (f.finding_info as any).analytic.uid === 'OIA-CRED-001')!;
    expect(cred).toMatchObject({ class_uid: 2004, activity_id: 1, type_uid: 200401, category_uid: 2, severity_id: 4, is_alert: true });
    expect((cred.finding_info as any).attacks).toEqual([
      { technique: { uid: 'T1552', name: 'Unsecured Credentials' }, sub_technique: { uid: 'T1552.004', name: 'Private Keys' }, tactic: { uid: 'TA0006', name: 'Credential Access' }, version: 'v19' },
    ]);
    expect((cred.finding_info as any).uid).toBe(`${m.body.session}:${m.body.seq}:OIA-CRED-001`);
    const shadow = findings.find((f) => (f.finding_info as any).analytic.uid === 'OIA-CRED-003')!;
    expect(shadow.severity_id).toBe(5);
    // No findings for blocks without rules, nor for other events.
    expect(mapped.filter((x) => x.body.event !== 'oi_audit.code.generated').every((x) => x.events.length === 1)).toBe(true);
  });

  it('approvals say allowed or denied; errors and losses are failures', () => {
    const [refused, approved] = primaryOf('oi_audit.approval.decision');
    expect(refused).toMatchObject({ activity_name: 'Refuse', action_id: 2, disposition_id: 2 });
    expect(approved).toMatchObject({ activity_name: 'Approve', action_id: 1, disposition_id: 1 });
    for (const e of primaryOf('oi_audit.error')) expect(e.status_id).toBe(2);
    expect(primaryOf('oi_audit.error').map((e) => e.class_uid).sort()).toEqual([1009, 6003]);
    expect(primaryOf('oi_audit.audit.loss')[0]).toMatchObject({ class_uid: 6002, severity_id: 4, status_id: 2 });
    expect(primaryOf('oi_audit.settings.refused')[0]).toMatchObject({ class_uid: 6003, activity_id: 3, status_id: 2 });
  });

  it('accepts a parsed body as well as its text, and the same event comes out', () => {
    const m = mapped[3]!;
    expect(toOcsf(m.body, { hostname: 'ws-7', serviceName: 'oi-audit' })).toEqual(m.events);
  });

  it('a body captured in hash mode still maps (the script content says why it is absent)', () => {
    const { recorder, logs } = inMemoryRecorder({ config: { capture: 'hash' } });
    const s = recorder.openSession({ userId: 'bob' });
    const t = s.startTurn('x');
    t.proposeCode({ language: 'shell', code: 'ls', risk: { level: 'none', rules: [] } });
    t.end();
    s.end();
    const body = logs.getFinishedLogRecords().map((r) => (r.body as string)).find((b) => b.includes('oi_audit.code.generated'))!;
    const [ev] = toOcsf(body);
    expect(validateOcsf(ev).valid).toBe(true);
    expect((ev!.script as any).script_content).toMatch(/^\[not captured: mode hash, 2 bytes, sha256 [0-9a-f]{64}\]$/);
  });

  it('rejects what is not an audit body', () => {
    expect(() => toOcsf('not json')).toThrow(/not JSON/);
    expect(() => toOcsf('{"event":"x"}')).toThrow(/lacks session/);
    expect(() => toOcsf({ session: 's', seq: 0, ts: '2026-01-01T00:00:00.000Z', event: 'nope', data: {} })).toThrow(/unknown audit event/);
  });
});

describe('OCSF validator', () => {
  const good = (): OcsfEvent => structuredClone(primaryOf('oi_audit.command.executed')[0]!);

  it('flags missing base attributes', () => {
    for (const k of ['activity_id', 'category_uid', 'class_uid', 'metadata', 'severity_id', 'time', 'type_uid']) {
      const ev = good();
      Reflect.deleteProperty(ev, k);
      const r = validateOcsf(ev);
      expect(r.valid, k).toBe(false);
      expect(r.errors.join('\n')).toContain(k);
    }
  });

  it('flags inconsistent type_uid, category and severity', () => {
    expect(validateOcsf({ ...good(), type_uid: 100902 }).errors.join()).toMatch(/type_uid 100902 must be/);
    expect(validateOcsf({ ...good(), category_uid: 6 }).errors.join()).toMatch(/not in category 6/);
    expect(validateOcsf({ ...good(), severity_id: 7 }).errors.join()).toMatch(/severity_id 7/);
    expect(validateOcsf({ ...good(), time: 1.5 }).errors.join()).toMatch(/time must be an integer/);
  });

  it('flags class-specific required attributes and their required fields', () => {
    const noScript = good();
    delete noScript.script;
    expect(validateOcsf(noScript).errors.join()).toMatch(/Script Activity: missing required attribute script/);
    const noContent = good();
    delete (noContent.script as any).script_content;
    expect(validateOcsf(noContent).errors.join()).toMatch(/script\.script_content/);
    const noDevice = good();
    delete noDevice.device;
    expect(validateOcsf(noDevice).errors.join()).toMatch(/device/);
    const api = structuredClone(primaryOf('oi_audit.llm.request')[0]!);
    delete (api.api as any).operation;
    expect(validateOcsf(api).errors.join()).toMatch(/api\.operation/);
    const finding = structuredClone(mapped.find((m) => m.events.length > 1)!.events[1]!);
    delete (finding.finding_info as any).uid;
    expect(validateOcsf(finding).errors.join()).toMatch(/finding_info\.uid/);
    const noMetaVersion = good();
    (noMetaVersion.metadata as any).version = 'one';
    expect(validateOcsf(noMetaVersion).errors.join()).toMatch(/metadata\.version/);
  });

  it('rejects unknown classes and non-objects', () => {
    expect(validateOcsf({ ...good(), class_uid: 1099, type_uid: 109901 }).errors.join()).toMatch(/not one this validator knows/);
    expect(validateOcsf([]).valid).toBe(false);
    expect(validateOcsf(null).valid).toBe(false);
  });

  it('knows every audit event name maps somewhere', () => {
    expect(new Set(mapped.map((m) => m.body.event))).toEqual(new Set(AUDIT_EVENT_NAMES));
  });
});
