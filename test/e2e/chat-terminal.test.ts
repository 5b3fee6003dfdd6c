/**
 * `oi-audit chat` as people use `interpreter` today: at a real terminal (tmux), and with stdin piped.
 * Real Open Interpreter 0.4.3; the model is the scripted stand-in (offline) or an OpenAI-compatible
 * stand-in the test starts itself.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startScriptedModel } from '../../src/demo/scripted-model.js';
import { readAuditFiles } from '../../src/read/otlp-files.js';
import { CLI, runCli, run } from '../helpers/cli.js';

const VENV_ENV = process.env.OI_AUDIT_VENV ? { OI_AUDIT_VENV: process.env.OI_AUDIT_VENV } : {};

function bodies(dir: string): any[] {
  return readAuditFiles([dir]).logs.map((l) => JSON.parse(l.body));
}

function tmux(...args: string[]): string {
  return execFileSync('tmux', args, { encoding: 'utf8' });
}

async function waitForPane(session: string, pattern: RegExp, timeoutMs = 180_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  let pane = '';
  while (Date.now() < until) {
    pane = tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', session);
    if (pattern.test(pane)) return pane;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${pattern} in the terminal; it shows:\n${pane}`);
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

  it('at a real terminal (tmux): y runs a block, n refuses one, exit ends the session; the trail verifies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oi-chat-tty-'));
    const approved = join(dir, 'approved-marker');
    const refused = join(dir, 'refused-marker');
    writeFileSync(
      join(dir, 'script.json'),
      JSON.stringify({
        turns: [
          { user: 'make the first marker', replies: [`\`\`\`shell\ntouch ${approved}\n\`\`\``, 'Made it.'] },
          { user: 'make the second marker', replies: [`\`\`\`shell\ntouch ${refused}\n\`\`\``] },
        ],
      }),
    );
    const keys = join(dir, 'keys');
    const gen = await runCli(['keygen', keys, '--json']);
    const env = JSON.parse(gen.stdout).env as Record<string, string>;
    const session = `oi-chat-${process.pid}`;
    // The markers live on the host: the sandbox (tested in containment.test.ts) would keep them in its workspace.
    const envArgs = Object.entries({ ...VENV_ENV, ...env, NO_COLOR: '1', OI_AUDIT_SANDBOX: 'none' }).map(([k, v]) => `${k}=${v}`);
    tmux('new-session', '-d', '-s', session, '-x', '200', '-y', '50', 'env', ...envArgs, process.execPath, CLI, 'chat', '--script', join(dir, 'script.json'), '--out', join(dir, 'logs'));
    try {
      await waitForPane(session, /^> /m);
      tmux('send-keys', '-t', session, 'make the first marker', 'Enter');
      await waitForPane(session, /Run this shell block\? \[y\/N\] $/m);
      tmux('send-keys', '-t', session, 'y', 'Enter');
      await waitForPane(session, /Made it\./);
      expect(existsSync(approved)).toBe(true);

      tmux('send-keys', '-t', session, 'make the second marker', 'Enter');
      await waitForPane(session, /(Run this shell block\? \[y\/N\] [\s\S]*){2}/);
      tmux('send-keys', '-t', session, 'n', 'Enter');
      // A refused block ends the turn in Open Interpreter: the prompt comes back.
      await waitForPane(session, /\[y\/N\] n\s*\n[\s\S]*^> *$/m);
      expect(existsSync(refused)).toBe(false);

      tmux('send-keys', '-t', session, 'exit', 'Enter');
      await waitForPane(session, /Verify: oi-audit verify/);
    } finally {
      try {
        tmux('kill-session', '-t', session);
      } catch {
        // already gone
      }
    }
    const verified = await runCli(['verify', join(dir, 'logs'), '--key', env.OI_AUDIT_MAC_SEED_FILE!, '--public-key', join(keys, 'signing-key.pub.pem')]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    const decisions = bodies(join(dir, 'logs')).filter((b) => b.event === 'oi_audit.approval.decision');
    expect(decisions.map((d) => [d.data.decision, d.data.decider])).toEqual([
      ['approved', 'user'],
      ['refused', 'user'],
    ]);
  }, 420_000);
});
