import { describe, expect, it } from 'vitest';
import { createDefaultRedactor } from '../../src/redact/rules.js';
import { STREAM_HOLD_CHARS, StreamRedactor } from '../../src/redact/stream.js';
import { prng } from '../helpers/prng.js';

/**
 * Output is recorded in parts; a secret that straddles a part boundary or arrives split over chunks
 * must be found whole: no part, and no two parts joined, may hold it (or its base64/hex form) raw.
 */
const red = createDefaultRedactor();
const SECRETS = [
  'AKIA' + 'Q7ZX3MPLWV4TRN2K',
  'ghp_' + 'Z9aB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3w',
  'DB_PASSWORD=' + 'Tr0ub4dor3xyzQ',
  'postgres://app:' + 'S3cr3tPassw0rdX' + '@db:5432/x',
  'machine h login bob password ' + 'Xk9pLm2Qw7',
  '-----BEGIN RSA PRIVATE KEY-----\n' + 'MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\n'.repeat(3) + '-----END RSA PRIVATE KEY-----',
];
/** The secret material of each (what must never appear), and its encodings. */
const RAW = ['Q7ZX3MPLWV4TRN2K', 'Z9aB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3w', 'Tr0ub4dor3xyzQ', 'S3cr3tPassw0rdX', 'Xk9pLm2Qw7', 'MIIEowIBAAKCAQEA0Z3VS5JJ'];

function run(text: string, partChars: number, hold: number, chunk: (rest: number) => number) {
  const s = new StreamRedactor(red, partChars, hold);
  const parts = [];
  for (let i = 0; i < text.length; ) {
    const n = Math.max(1, Math.min(text.length - i, chunk(text.length - i)));
    parts.push(...s.push(text.slice(i, i + n)));
    i += n;
  }
  parts.push(s.end());
  return parts;
}

function leaks(out: string): string[] {
  return RAW.filter((raw) => out.includes(raw) || out.includes(raw.slice(0, 8)) || out.includes(raw.slice(-8)));
}

describe('stream redaction across part boundaries and chunks', () => {
  const rnd = prng(14);
  const filler = (n: number) => 'lorem ipsum dolor sit amet, '.repeat(Math.ceil(n / 28)).slice(0, n);

  it('a secret at every offset around a boundary, fed whole, in 1-character chunks and in random chunks: never raw, parts join to the stream', () => {
    const partChars = 300;
    const hold = 200;
    for (const secret of SECRETS) {
      for (let off = partChars - secret.length - 2; off <= partChars + 2; off += 3) {
        const text = `${filler(off)}${secret} ${filler(700)}`;
        for (const chunk of [() => 1e9, () => 1, () => 1 + Math.floor(rnd() * 97)]) {
          const parts = run(text, partChars, Math.max(hold, secret.length + 40), chunk);
          expect(parts.map((p) => p.raw).join('')).toBe(text);
          const texts = parts.map((p) => p.redacted!.text);
          for (const t of texts) expect(leaks(t), `${secret.slice(0, 12)}@${off}: ${t}`).toEqual([]);
          expect(leaks(texts.join(''))).toEqual([]);
          // Every part's counts equal its markers.
          for (const p of parts) {
            const markers = (p.redacted!.text.match(/\[REDACTED:[a-z0-9-]+\]/g) ?? []).length;
            expect(Object.values(p.redacted!.counts).reduce((a, b) => a + b, 0)).toBe(markers);
          }
        }
      }
    }
  });

  it('with the recorder defaults (64 KiB parts, 4 KiB hold): keys across three boundaries, ANSI-coloured, stay redacted', () => {
    const part = 64 * 1024;
    let text = '';
    for (let b = 1; b <= 3; b++) {
      const secret = SECRETS[b % SECRETS.length]!;
      text += filler(b * part - text.length - 7) + `\x1b[31m${secret.slice(0, 9)}\x1b[0m${secret.slice(9)}\n`;
    }
    text += filler(5000);
    const parts = run(text, part, STREAM_HOLD_CHARS, () => 4096 + Math.floor(rnd() * 8192));
    expect(parts.length).toBeGreaterThanOrEqual(3);
    expect(parts.map((p) => p.raw).join('')).toBe(text);
    const joined = parts.map((p) => p.redacted!.text).join('');
    expect(leaks(joined.replace(/\x1b\[[0-9;]*m/g, ''))).toEqual([]);
    for (const p of parts) expect(p.raw.length).toBeLessThanOrEqual(part + STREAM_HOLD_CHARS);
  });

  it('base64 and hex forms of a secret split across parts are redacted too', () => {
    const inner = `password=${'abc'.repeat(12)}`;
    for (const enc of [Buffer.from(inner).toString('base64'), Buffer.from(inner).toString('hex')]) {
      const text = `${filler(290)} ${enc} ${filler(400)}`;
      const parts = run(text, 300, 200, () => 7);
      const joined = parts.map((p) => p.redacted!.text).join('');
      expect(joined).not.toContain(enc.slice(0, 16));
      expect(joined).not.toContain(enc.slice(-16));
    }
  });

  it('without a redactor (capture full/hash) the stream is only cut into parts', () => {
    const s = new StreamRedactor(undefined, 10);
    const parts = [...s.push('a'.repeat(25)), s.end()];
    expect(parts.map((p) => p.raw)).toEqual(['a'.repeat(10), 'a'.repeat(10), 'a'.repeat(5)]);
    expect(parts.every((p) => p.redacted === undefined)).toBe(true);
  });
});
