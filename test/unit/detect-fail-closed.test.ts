/**
 * Fail closed: when the grammars cannot load, no block is approved unread. Every code block is held
 * (OIA-DET-001, high) while the pattern rules still run.
 */
import { describe, expect, it } from 'vitest';

describe('grammar that does not load', () => {
  it('holds every shell and Python block and keeps the pattern rules', async () => {
    process.env.OI_AUDIT_DETECT_GRAMMAR_DIR = '/nonexistent-grammar-dir';
    try {
      const { parserError } = await import('../../src/detect/parsers.js');
      const { detectCode } = await import('../../src/detect/engine.js');
      expect(parserError()).toBeTruthy();
      for (const [lang, code] of [['shell', 'ls -la'], ['python', 'print(1)']] as const) {
        const r = detectCode(lang, code);
        expect(r.rules).toContain('OIA-DET-001');
        expect(r.level).toBe('high');
      }
      expect(detectCode('shell', 'rm -rf /').level).toBe('critical');
    } finally {
      delete process.env.OI_AUDIT_DETECT_GRAMMAR_DIR;
    }
  });
});
