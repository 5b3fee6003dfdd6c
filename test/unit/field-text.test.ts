import { describe, expect, it } from 'vitest';
import { fieldText } from '../../src/record/field-text.js';

describe('fieldText (record fields of unknown type, as read back)', () => {
  it('keeps strings and prints scalars as String() does', () => {
    expect(fieldText('a\nb')).toBe('a\nb');
    expect([fieldText(42), fieldText(true), fieldText(null), fieldText(undefined), fieldText(10n)]).toEqual(['42', 'true', 'null', 'undefined', '10']);
  });

  it('prints a hostile object or array as its JSON, never "[object Object]"', () => {
    expect(fieldText({ model: 'x', nested: [1] })).toBe('{"model":"x","nested":[1]}');
    expect(fieldText(['a', 2])).toBe('["a",2]');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(fieldText(cyclic)).toBe('[object Object]');
  });
});
