import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli } from '../helpers/cli.js';

describe('oi-audit import', () => {
  it('turns a saved conversation into one imported session with the same events as a live one', async () => {
    const out = mkdtempSync(join(tmpdir(), 'oi-import-'));
    const result = await runCli(['import', '--out', out, '--json', join(REPO_ROOT, 'test/fixtures/conversations/two-turns.json')], {
      env: { OI_AUDIT_CAPTURE: 'full', OTEL_EXPORTER_OTLP_ENDPOINT: '' },
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).results[0]).toMatchObject({ turns: 2, codeBlocks: 2, skipped: 0 });
    const view = JSON.parse((await runCli(['view', '--json', out])).stdout);
    const session = view.sessions[0];
    expect(session.imported).toBe(true);
    expect(session.turns.map((t: any) => t.input)).toEqual(['what is 2+2?', 'list /nope']);
    expect(session.turns[0].code[0]).toMatchObject({ code: 'print(2+2)', executed: true, output: '4\n', decider: 'imported', error: false });
    expect(session.turns[1].code[0]).toMatchObject({ language: 'shell', error: true });
    expect(session.turns[1].errors[0].message).toContain('No such file or directory');
  });

  it('exits 2 and names the file when it is not a conversation', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oi-import-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"not":"a list"}');
    const result = await runCli(['import', '--out', join(dir, 'out'), bad]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(bad);
    expect(result.stderr).toContain('JSON list of LMC messages');
  });
});
