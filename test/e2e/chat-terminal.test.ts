/**
 * `oi-audit chat` as people use `interpreter` today: at a real terminal (tmux), and with stdin piped.
 * Real Open Interpreter 0.4.3; the model is the scripted stand-in (offline) or an OpenAI-compatible
 * stand-in the test starts itself.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startScriptedModel } from '../../src/demo/scripted-model.js';
import { readAuditFiles } from '../../src/read/otlp-files.js';
import { CLI, run } from '../helpers/cli.js';

const VENV_ENV = process.env.OI_AUDIT_VENV ? { OI_AUDIT_VENV: process.env.OI_AUDIT_VENV } : {};

function bodies(dir: string): any[] {
  return readAuditFiles([dir]).logs.map((l) => JSON.parse(l.body));
}

describe('oi-audit chat', () => {
  it('without a terminal: two stdin lines through --approve policy against an OpenAI-compatible stand-in → two turns, exit 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oi-chat-pipe-'));
    const standin = await startScriptedModel({
      script: {
        turns: [
          { user: 'first question', replies: ['```shell\necho piped-one\n```', 'First done.'] },
          { user: 'second question', replies: ['Second answer, no code.'] },
        ],
      },
    });
    try {
      const r = await run(process.execPath, [CLI, 'chat', '--model', 'gpt-4o-mini', '--api-base', standin.url, '--approve', 'policy', '--out', join(dir, 'logs')], {
        input: 'first question\nsecond question\n',
        env: { ...process.env, ...VENV_ENV, OPENAI_API_KEY: 'sk-test-standin-key-0123456789' },
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('piped-one');
      expect(r.stdout).toContain('Second answer, no code.');
      const events = bodies(join(dir, 'logs'));
      expect(events.filter((b) => b.event === 'oi_audit.user.input')).toHaveLength(2);
      const start = events.find((b) => b.event === 'oi_audit.session.start');
      expect(JSON.stringify(start.data)).toContain('terminal');
      // The upstream key reached the stand-in's provider route only, never the trail.
      for (const f of ['logs.jsonl', 'traces.jsonl']) expect(readFileSync(join(dir, 'logs', f), 'utf8')).not.toContain('sk-test-standin-key');
    } finally {
      await standin.close();
    }
  }, 300_000);

  it('without a terminal, --approve ask is refused: exit 2, no terminal to ask', async () => {
    const r = await run(process.execPath, [CLI, 'chat', '--script', '/nonexistent', '--approve', 'ask'], { input: 'hi\n' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no terminal to ask/);
  });
});
