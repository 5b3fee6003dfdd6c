import type { RedactionResult, Redactor } from './redactor.js';

/**
 * Placeholder rule table (a handful of rules) until the full versioned table lands.
 * Every pattern is linear: bounded quantifiers, no nested repetition.
 */
const RULES: Array<{ id: string; pattern: RegExp }> = [
  { id: 'aws-access-key', pattern: /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g },
  { id: 'openai-key', pattern: /\bsk-(?:proj-)?[A-Za-z0-9_-]{20,200}\b/g },
  { id: 'github-token', pattern: /\bgh[pousr]_[A-Za-z0-9]{36,255}\b/g },
  { id: 'private-key', pattern: /-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----[\s\S]{0,20000}?-----END [A-Z ]{0,40}PRIVATE KEY-----/g },
];

export function createDefaultRedactor(): Redactor {
  return {
    version: 'placeholder-0',
    redact(text: string): RedactionResult {
      const counts: Record<string, number> = {};
      let out = text;
      for (const rule of RULES) {
        out = out.replace(rule.pattern, () => {
          counts[rule.id] = (counts[rule.id] ?? 0) + 1;
          return `[REDACTED:${rule.id}]`;
        });
      }
      return { text: out, counts };
    },
  };
}
