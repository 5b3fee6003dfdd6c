import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as attributes from '../../src/semconv/attributes.js';
import { AUDIT_EVENT_NAMES } from '../../src/semconv/events.js';

const doc = readFileSync(new URL('../../docs/semantic-conventions.md', import.meta.url), 'utf8');

describe('docs/semantic-conventions.md', () => {
  it('documents every attribute name the code defines', () => {
    const names = Object.entries(attributes)
      .filter(([key]) => key.startsWith('ATTR_'))
      .map(([, value]) => value as string);
    expect(names.length).toBeGreaterThan(40);
    const missing = names.filter((n) => !doc.includes(`\`${n}\``));
    expect(missing).toEqual([]);
  });

  it('documents every audit event name', () => {
    const missing = AUDIT_EVENT_NAMES.filter((n) => !doc.includes(`\`${n}\``));
    expect(missing).toEqual([]);
  });
});
