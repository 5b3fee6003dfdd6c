import { createHmac, hkdfSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadIntegrityKeys } from '../../src/keys/integrity-keys.js';
import { loadPseudonymizer, Pseudonymizer, PSEUDONYM_KDF_INFO } from '../../src/redact/pseudonym.js';

const HEX32 = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
const B64_32 = Buffer.from(HEX32, 'hex').reverse().toString('base64');

describe('Pseudonymizer', () => {
  it('is `<key id>:<32 hex>` of HMAC-SHA256, stable per key and different across keys', () => {
    const p = new Pseudonymizer({ id: 'k1', secret: Buffer.from(HEX32, 'hex') });
    const a = p.pseudonymize('alice@example.com');
    expect(a).toMatch(/^k1:[0-9a-f]{32}$/);
    expect(a).toBe(`k1:${createHmac('sha256', Buffer.from(HEX32, 'hex')).update('alice@example.com').digest('hex').slice(0, 32)}`);
    expect(p.pseudonymize('alice@example.com')).toBe(a);
    expect(p.pseudonymize('bob@example.com')).not.toBe(a);
    const q = new Pseudonymizer({ id: 'k1', secret: Buffer.alloc(32, 9) });
    expect(q.pseudonymize('alice@example.com')).not.toBe(a);
    expect(a).not.toContain('alice');
  });

  it('ephemeral keys differ per instance', () => {
    expect(Pseudonymizer.ephemeral().pseudonymize('u')).not.toBe(Pseudonymizer.ephemeral().pseudonymize('u'));
    expect(Pseudonymizer.ephemeral().keyId).toBe('ephemeral');
  });

  it('rejects key ids that would make the prefix ambiguous', () => {
    expect(() => new Pseudonymizer({ id: 'a:b', secret: Buffer.alloc(32) })).toThrow(/key id/);
    expect(() => new Pseudonymizer({ id: '', secret: Buffer.alloc(32) })).toThrow(/key id/);
  });

  it('rotation: candidates() and matches() find a user under the current and previous keys', () => {
    const oldKey = { id: '2025q4', secret: Buffer.alloc(32, 1) };
    const newKey = { id: '2026q1', secret: Buffer.alloc(32, 2) };
    const before = new Pseudonymizer(oldKey).pseudonymize('carol');
    const p = new Pseudonymizer(newKey, [oldKey]);
    expect(p.keyIds).toEqual(['2026q1', '2025q4']);
    expect(p.pseudonymize('carol')).toMatch(/^2026q1:/);
    expect(p.candidates('carol')).toEqual([p.pseudonymize('carol'), before]);
    expect(p.matches('carol', before)).toBe(true);
    expect(p.matches('dave', before)).toBe(false);
    expect(p.matches('carol', 'nonsense')).toBe(false);
  });
});

describe('loadPseudonymizer', () => {
  const derived = (id: string, secret: Buffer) => Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `${PSEUDONYM_KDF_INFO}/${id}`, 32));

  it('reads OI_AUDIT_PSEUDONYM_KEY=<keyid>:<hex> and derives the HMAC key with HKDF', () => {
    const p = loadPseudonymizer({ env: { OI_AUDIT_PSEUDONYM_KEY: `p1:${HEX32}` } });
    expect(p.keyId).toBe('p1');
    const expected = new Pseudonymizer({ id: 'p1', secret: derived('p1', Buffer.from(HEX32, 'hex')) }).pseudonymize('eve');
    expect(p.pseudonymize('eve')).toBe(expected);
    // The configured secret is never the HMAC key itself.
    expect(p.pseudonymize('eve')).not.toBe(new Pseudonymizer({ id: 'p1', secret: Buffer.from(HEX32, 'hex') }).pseudonymize('eve'));
  });

  it('reads base64 secrets, and explicit hex:/base64: prefixes', () => {
    expect(loadPseudonymizer({ env: { OI_AUDIT_PSEUDONYM_KEY: `p2:${B64_32}` } }).keyId).toBe('p2');
    const a = loadPseudonymizer({ env: { OI_AUDIT_PSEUDONYM_KEY: `p3:hex:${HEX32}` } }).pseudonymize('x');
    const b = loadPseudonymizer({ env: { OI_AUDIT_PSEUDONYM_KEY: `p3:base64:${Buffer.from(HEX32, 'hex').toString('base64')}` } }).pseudonymize('x');
    expect(a).toBe(b);
  });

  it('reads OI_AUDIT_PSEUDONYM_KEY_FILE (current key first, older keys kept, comments ignored)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oi-pseudo-'));
    const file = join(dir, 'keys');
    writeFileSync(file, `# current first\nnew:${HEX32}\nold:${B64_32}\n`);
    const p = loadPseudonymizer({ env: { OI_AUDIT_PSEUDONYM_KEY_FILE: file } });
    expect(p.keyIds).toEqual(['new', 'old']);
    const old = loadPseudonymizer({ env: { OI_AUDIT_PSEUDONYM_KEY: `old:${B64_32}` } });
    expect(p.matches('frank', old.pseudonymize('frank'))).toBe(true);
    expect(loadPseudonymizer({ env: {}, keyFile: file }).keyId).toBe('new');
  });

  it('refuses weak or malformed keys without echoing the secret', () => {
    expect(() => loadPseudonymizer({ env: { OI_AUDIT_PSEUDONYM_KEY: 'p:00112233' } })).toThrow(/at least 16/);
    expect(() => loadPseudonymizer({ env: { OI_AUDIT_PSEUDONYM_KEY: HEX32 } })).toThrow(/<keyid>:<secret>/);
    try {
      loadPseudonymizer({ env: { OI_AUDIT_PSEUDONYM_KEY: 'p:not base64 at all!' } });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('not base64 at all');
    }
    expect(() => loadPseudonymizer({ env: { OI_AUDIT_PSEUDONYM_KEY: `a:${HEX32},a:${B64_32}` } })).toThrow(/twice/);
  });

  it('without a key: ephemeral, or an error when asked', () => {
    expect(loadPseudonymizer({ env: {} }).keyId).toBe('ephemeral');
    expect(() => loadPseudonymizer({ env: {}, onMissing: 'error' })).toThrow(/no pseudonym key/);
  });

  it('pseudonym and integrity keys must differ (checked from both sides)', () => {
    const env = { OI_AUDIT_PSEUDONYM_KEY: `p:${HEX32}`, OI_AUDIT_MAC_SEED: `m:${HEX32}` };
    expect(() => loadPseudonymizer({ env })).toThrow(/separate/);
    expect(() => loadIntegrityKeys({ env })).toThrow(/separate/);
    const ok = { OI_AUDIT_PSEUDONYM_KEY: `p:${HEX32}`, OI_AUDIT_MAC_SEED: `m:${B64_32}` };
    expect(loadPseudonymizer({ env: ok }).keyId).toBe('p');
    expect(loadIntegrityKeys({ env: ok }).macSeed.id).toBe('m');
  });
});
