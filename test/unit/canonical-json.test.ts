import reference from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { canonicalize, type JsonValue } from '../../src/record/canonical-json.js';
import { prng } from '../helpers/prng.js';

/** RFC 8785 (JSON Canonicalization Scheme) against the RFC's own examples. */

function fromIeee754(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

describe('RFC 8785 canonical JSON', () => {
  // §3.2.2 input, as JSON text (parsed, as a verifier parses a body), and the §3.2.3 output.
  const RFC_INPUT = String.raw`{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`;
  const RFC_OUTPUT = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`;

  it('§3.2.2/§3.2.3: the sample input canonicalises to the RFC output', () => {
    expect(canonicalize(JSON.parse(RFC_INPUT) as JsonValue)).toBe(RFC_OUTPUT);
  });

  it('§3.2.4: the output is UTF-8 with the euro sign as E2 82 AC and nothing else outside ASCII', () => {
    const bytes = Buffer.from(canonicalize(JSON.parse(RFC_INPUT) as JsonValue), 'utf8');
    expect(bytes.subarray(0, 12).toString('hex')).toBe('7b226c69746572616c73223a'); // {"literals":
    expect(bytes.toString('hex')).toContain('22e282ac245c75303030665c6e41'); // "€$\u000f\nA
    expect([...bytes].filter((b) => b > 0x7f)).toEqual([0xe2, 0x82, 0xac]);
    expect(bytes.length).toBe(RFC_OUTPUT.length + 2);
  });

  it('§3.2.3: property sorting by UTF-16 code units (the RFC example)', () => {
    const input = String.raw`{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`;
    const out = canonicalize(JSON.parse(input) as JsonValue);
    expect(out).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis",' +
        '"€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  // Appendix B: IEEE 754 bit patterns and their canonical text.
  const APPENDIX_B: Array<[string, string]> = [
    ['0000000000000000', '0'],
    ['8000000000000000', '0'],
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ];
  it.each(APPENDIX_B)('Appendix B: 0x%s → %s', (bits, expected) => {
    expect(canonicalize(fromIeee754(bits))).toBe(expected);
    expect(canonicalize({ n: fromIeee754(bits) })).toBe(`{"n":${expected}}`);
  });

  it('Appendix B: NaN and Infinity (0x7fffffffffffffff, 0x7ff0000000000000) are errors', () => {
    expect(() => canonicalize(fromIeee754('7fffffffffffffff'))).toThrow();
    expect(() => canonicalize(fromIeee754('7ff0000000000000'))).toThrow();
    expect(() => canonicalize({ x: -Infinity })).toThrow();
  });

  it('rejects lone surrogates (I-JSON), accepts valid pairs', () => {
    expect(() => canonicalize('\ud800')).toThrow();
    expect(() => canonicalize({ k: 'a\udc00' })).toThrow();
    expect(canonicalize('😀')).toBe('"😀"');
  });

  it('no whitespace, nested sorting, arrays keep their order, only the mandatory escapes', () => {
    expect(canonicalize({ b: [3, 1, { z: 1, a: 2 }], a: { d: null, c: 'x\ty\u001f\u007f</>' } })).toBe(
      '{"a":{"c":"x\\ty\\u001f\u007f</>","d":null},"b":[3,1,{"a":2,"z":1}]}',
    );
  });

  it('canonical form is idempotent over parse → canonicalize', () => {
    const once = canonicalize(JSON.parse(RFC_INPUT) as JsonValue);
    expect(canonicalize(JSON.parse(once) as JsonValue)).toBe(once);
  });

  describe('equals the reference implementation (the `canonicalize` package by the RFC author)', () => {
    const rnd = prng(11);
    const CHARS = ['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', '\r', '\b', '\f', '\u0000', '\u001f', '\u007f', '\u0080', 'é', '€', '\u2028', '\u2029', '😀', '\ufb33', '\ud800', '\udfff', '\udbff\udfff'];
    const str = (max: number) => Array.from({ length: Math.floor(rnd() * max) }, () => CHARS[Math.floor(rnd() * CHARS.length)]).join('');
    const num = () =>
      [0, -0, 1, -1, 0.1, 1e21, 1e-7, 5e-324, 1.7976931348623157e308, 2 ** 53, 333333333.3333333, rnd() * 1e6, -rnd() * 1e-9, Math.round(rnd() * 1e9)][Math.floor(rnd() * 14)]!;
    const value = (depth: number): unknown => {
      const k = Math.floor(rnd() * (depth > 3 ? 4 : 7));
      if (k === 0) return str(12);
      if (k === 1) return num();
      if (k === 2) return rnd() < 0.5;
      if (k === 3) return null;
      if (k === 4) return Array.from({ length: Math.floor(rnd() * 5) }, () => (rnd() < 0.1 ? undefined : value(depth + 1)));
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(rnd() * 6); i > 0; i--) o[str(6)] = rnd() < 0.1 ? undefined : value(depth + 1);
      return o;
    };

    it('same text, or both refuse, on 5,000 random values', () => {
      let refused = 0;
      for (let i = 0; i < 5000; i++) {
        const v = value(0);
        let expected: string | undefined;
        try {
          expected = reference(v);
        } catch {
          expected = undefined;
        }
        if (expected === undefined) {
          refused++;
          expect(() => canonicalize(v as JsonValue), JSON.stringify(v)).toThrow();
        } else {
          expect(canonicalize(v as JsonValue), JSON.stringify(v)).toBe(expected);
        }
      }
      // Both branches were exercised.
      expect(refused).toBeGreaterThan(100);
      expect(refused).toBeLessThan(4900);
    });

    it('toJSON is honoured as the reference does (a Date becomes its ISO string)', () => {
      const v = { when: new Date(0), nested: [{ toJSON: () => ({ b: 1, a: 2 }) }] };
      expect(canonicalize(v as unknown as JsonValue)).toBe(reference(v));
    });

    it('a circular structure is refused', () => {
      const o: Record<string, unknown> = { a: 1 };
      o.self = o;
      expect(() => canonicalize(o as JsonValue)).toThrow(/circular/);
    });
  });
});
