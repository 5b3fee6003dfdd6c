import { describe, expect, it } from 'vitest';
import { SessionChain } from '../../src/integrity/chain.js';
import { loadIntegrityKeys } from '../../src/keys/integrity-keys.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { exitCodeFor, renderJson, renderText, summarize } from '../../src/verify/report.js';
import { verifySessions, type ParsedRecord } from '../../src/verify/verify.js';

const SEED = Buffer.alloc(32, 0x5a);
const keys = loadIntegrityKeys({ env: {}, macSeed: SEED });

function stream(session: string, n = 6): ParsedRecord[] {
  const chain = new SessionChain({ sessionId: session, keys });
  const ctx = (i: number) => ({ ts: new Date(Date.UTC(2026, 4, 1, 0, 0, i)).toISOString(), traceId: 'ef'.repeat(16), spanId: '01'.repeat(8) });
  const out = [chain.seal(AUDIT_EVENTS.sessionStart, { integrity: chain.sessionStartData() }, ctx(0))];
  for (let i = 1; i < n; i++) out.push(chain.seal(AUDIT_EVENTS.userInput, { i }, ctx(i)));
  out.push(chain.seal(AUDIT_EVENTS.sessionEnd, { outcome: 'complete' }, ctx(n)));
  out.push(chain.sealCheckpoint('end', ctx(n)));
  return out.map((s, i) => ({ body: s.body, source: { file: `${session}.jsonl`, line: i + 1 } }));
}

describe('verification reports', () => {
  const good = stream('good-session');
  const bad = stream('bad-session');
  bad.splice(3, 2);
  const reports = verifySessions([...good, ...bad], { macSeed: SEED, trustedPublicKeys: [keys.signing.publicKeyRaw] });

  it('text: one line per session with VALID/INVALID, problems beneath, a results line', () => {
    const text = renderText(reports);
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^Session good-session\tVALID\t8 records \(seq 0\.\.7\), complete, 1\/1 checkpoint signatures valid, 1\/1 Merkle roots valid, MACs 8\/8 valid, key pinned$/);
    expect(text).toMatch(/Session bad-session\tINVALID\t6 records/);
    expect(text).toMatch(/ERROR {3}missing {17}missing 3\.\.4/);
    expect(text).toContain('Results: 1/2 sessions valid, 1/2 INVALID; 14 records; problems: ');
    expect(text).not.toContain('key_not_pinned');
  });

  it('text: info notes only with verbose; colours only when asked', () => {
    const plain = verifySessions(stream('plain'), { allowUnauthenticated: true });
    expect(renderText(plain)).not.toContain('mac_not_checked');
    expect(renderText(plain, { verbose: true })).toContain('mac_not_checked');
    expect(renderText(plain)).not.toContain('\x1b[');
    expect(renderText(plain, { color: true })).toContain('\x1b[32mVALID\x1b[0m');
  });

  it('text: session ids and messages from the stream cannot drive the terminal', () => {
    const hostile = stream('evil\x1b[2J\u202esession\nFAKE: VALID');
    const text = renderText(verifySessions(hostile));
    expect(text).not.toContain('\x1b[2J');
    expect(text).not.toContain('\u202e');
    expect(text).toContain('evil\\u{001b}[2J\\u{202e}session\\nFAKE: VALID');
    expect(text.split('\n').filter((l) => l.startsWith('Session '))).toHaveLength(1);
  });

  it('text: a run without keys says loudly, on the session line and at the end, that nothing was authenticated', () => {
    const text = renderText(verifySessions(stream('nokeys')));
    expect(text).toMatch(/^Session nokeys\tINVALID\t.*NOT AUTHENTICATED/m);
    expect(text).toMatch(/ERROR {3}unauthenticated/);
    expect(text).toMatch(/NOT AUTHENTICATED: 1\/1 session/);
    const allowed = renderText(verifySessions(stream('nokeys'), { allowUnauthenticated: true }));
    expect(allowed).toMatch(/^Session nokeys\tVALID\t.*NOT AUTHENTICATED/m);
    expect(allowed).toMatch(/WARNING unauthenticated/);
  });

  it('JSON: summary and the session reports, parseable and complete', () => {
    const parsed = JSON.parse(renderJson(reports)) as { summary: ReturnType<typeof summarize>; sessions: typeof reports };
    expect(parsed.summary).toEqual({ sessions: 2, valid: 1, invalid: 1, records: 14, problems: expect.objectContaining({ missing: 1 }) });
    expect(parsed.sessions.map((s) => s.session)).toEqual(['good-session', 'bad-session']);
    expect(parsed.sessions[1]!.missing).toEqual([{ from: 3, to: 4, declared: false }]);
    expect(renderJson(reports, { pretty: false }).split('\n')).toHaveLength(2);
  });

  it('exit code: 0 only when every session is valid and there is at least one', () => {
    expect(exitCodeFor(reports)).toBe(1);
    expect(exitCodeFor(reports.filter((r) => r.status === 'valid'))).toBe(0);
    expect(exitCodeFor([])).toBe(1);
    expect(renderText([])).toContain('no audit records found');
  });
});
