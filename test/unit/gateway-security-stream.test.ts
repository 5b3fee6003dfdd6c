import { describe, expect, it } from 'vitest';
import { SecurityStream } from '../../src/gateway/security-stream.js';
import { parseTokensDocument } from '../../src/gateway/tokens.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';

describe('gateway security stream', () => {
  it('records failed logins pseudonymised, rate-limited per address, the rest counted; ends with a checkpoint', () => {
    const h = inMemoryRecorder();
    let now = 0;
    const s = new SecurityStream(h.recorder, { perAddress: 3, now: () => now });
    for (let i = 0; i < 10; i++) s.record('auth_failed', '10.0.0.1', 'unknown bearer token', { token_pseudonym: s.pseudonym('secret-token-value') });
    s.record('auth_failed', '10.0.0.2', 'no bearer token');
    now += 61_000;
    s.record('auth_failed', '10.0.0.1', 'unknown bearer token');
    s.close();
    const bodies = h.bodies();
    const errors = bodies.filter((b) => b.event === AUDIT_EVENTS.error).map((b) => b.data);
    expect(errors.filter((e) => e.type === 'auth_failed' && e.client_address === '10.0.0.1')).toHaveLength(4);
    expect(errors.filter((e) => e.client_address === '10.0.0.2')).toHaveLength(1);
    expect(errors.find((e) => e.type === 'security_events_suppressed')!.suppressed).toBe(7);
    expect(JSON.stringify(bodies)).not.toContain('secret-token-value');
    expect(bodies.at(-2)!.event).toBe(AUDIT_EVENTS.sessionEnd);
    expect(bodies.at(-1)!.event).toBe(AUDIT_EVENTS.integrityCheckpoint);
  });

  it('tokens file: roles must be strings, user required', () => {
    expect(parseTokensDocument({ t: { user: 'a', roles: ['approver'] } }, 'f').get('t')).toEqual({ userId: 'a', roles: ['approver'] });
    expect(() => parseTokensDocument({ t: { user: 'a', roles: 'approver' } }, 'f')).toThrow(/roles/);
    expect(() => parseTokensDocument({ t: {} }, 'f')).toThrow(/user/);
    expect(() => parseTokensDocument([], 'f')).toThrow(/expected/);
  });
});
