/**
 * `oi-audit chat` as people use `interpreter` today: at a real terminal (tmux), and with stdin piped.
 * Real Open Interpreter 0.4.3; the model is the scripted stand-in (offline) or an OpenAI-compatible
 * stand-in the test starts itself.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startScriptedModel } from '../../src/demo/scripted-model.js';
import { readAuditFiles } from '../../src/read/otlp-files.js';
import { CLI, run, runCli } from '../helpers/cli.js';

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

  it('runs the code in the current directory under the default sandbox: its file lands there, the audit keys and sink stay unreadable', async () => {
    const work = mkdtempSync(join(tmpdir(), 'oi-chat-cwd-'));
    // Keys and the default sink (./oi-audit-logs) inside the user's directory: the worst case for hiding them.
    const gen = await runCli(['keygen', join(work, 'keys'), '--json']);
    const env = JSON.parse(gen.stdout).env as Record<string, string>;
    const seed = readFileSync(env.OI_AUDIT_MAC_SEED_FILE!, 'utf8');
    const code = [
      'echo made-by-the-model > from-model.txt',
      'cat keys/mac-seed keys/signing-key.pem keys/pseudonym-key > leak.txt 2>&1',
      'ls -A oi-audit-logs > sink-listing.txt 2>&1',
      'cat "$OI_AUDIT_MAC_SEED_FILE" >> leak.txt 2>&1',
    ].join('\n');
    writeFileSync(join(work, 'script.json'), JSON.stringify({ turns: [{ user: 'write a file', replies: [`\`\`\`shell\n${code}\n\`\`\``, 'Done.'] }] }));
    const r = await run(process.execPath, [CLI, 'chat', '--script', 'script.json', '--approve', 'all'], {
      cwd: work,
      input: 'write a file\n',
      env: { ...process.env, ...VENV_ENV, ...env, NO_COLOR: '1' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(work, 'from-model.txt'), 'utf8')).toBe('made-by-the-model\n');
    expect(readFileSync(join(work, 'leak.txt'), 'utf8')).not.toContain(seed.trim().slice(0, 16));
    expect(readFileSync(join(work, 'leak.txt'), 'utf8')).not.toMatch(/PRIVATE KEY/);
    expect(readFileSync(join(work, 'sink-listing.txt'), 'utf8').trim()).toBe('');
    // Open Interpreter's HOME is not the user's directory.
    expect(existsSync(join(work, '.config'))).toBe(false);
    const verified = await runCli(['verify', join(work, 'oi-audit-logs'), '--key', env.OI_AUDIT_MAC_SEED_FILE!, '--public-key', join(work, 'keys', 'signing-key.pub.pem')]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  }, 300_000);

  it('--temp-workspace: the code runs in a throwaway directory, nothing lands in the current one', async () => {
    const work = mkdtempSync(join(tmpdir(), 'oi-chat-temp-'));
    writeFileSync(join(work, 'script.json'), JSON.stringify({ turns: [{ user: 'write a file', replies: ['```shell\necho x > from-model.txt && pwd\n```', 'Done.'] }] }));
    const r = await run(process.execPath, [CLI, 'chat', '--script', 'script.json', '--approve', 'all', '--temp-workspace', '--out', join(work, 'logs')], {
      cwd: work,
      input: 'write a file\n',
      env: { ...process.env, ...VENV_ENV, NO_COLOR: '1' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/oi-audit-chat-/);
    expect(existsSync(join(work, 'from-model.txt'))).toBe(false);
  }, 300_000);

  it('bad --workspace is a usage error before anything starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oi-chat-badws-'));
    writeFileSync(join(dir, 'script.json'), JSON.stringify({ turns: [{ user: 'hi', replies: ['Hi.'] }] }));
    const r = await run(process.execPath, [CLI, 'chat', '--script', join(dir, 'script.json'), '--approve', 'all', '--workspace', join(dir, 'missing'), '--out', join(dir, 'logs')], { input: 'hi\n' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--workspace .*missing.*: not a directory/);
    expect(existsSync(join(dir, 'logs'))).toBe(false);
  });

  it('--agent rust: the Rust Open Interpreter (real Codex 0.148.0) at the same client, in the current directory; the trail verifies', async () => {
    const work = mkdtempSync(join(tmpdir(), 'oi-chat-rust-'));
    mkdirSync(join(work, 'sub'));
    const gen = await runCli(['keygen', join(work, '..', `${work.split('/').pop()}-keys`), '--json']);
    const env = JSON.parse(gen.stdout).env as Record<string, string>;
    writeFileSync(
      join(work, 'script.json'),
      JSON.stringify({
        turns: [
          { user: 'Create the marker file.', replies: ['I will create it.\n\n```shell\ntouch rust-marker.txt && echo rust-ok\n```\n', 'Created.'] },
          { user: 'Say hello.', replies: ['Hello from the Rust agent.'] },
        ],
      }),
    );
    const r = await run(process.execPath, [CLI, 'chat', '--agent', 'rust', '--script', 'script.json', '--approve', 'policy', '--out', join(work, 'sub', 'logs')], {
      cwd: work,
      input: 'Create the marker file.\nSay hello.\n',
      env: { ...process.env, ...env, NO_COLOR: '1' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('rust-ok');
    expect(r.stdout).toContain('Hello from the Rust agent.');
    expect(existsSync(join(work, 'rust-marker.txt'))).toBe(true);
    const events = bodies(join(work, 'sub', 'logs'));
    expect(events.filter((b) => b.event === 'oi_audit.user.input')).toHaveLength(2);
    const start = events.find((b) => b.event === 'oi_audit.session.start');
    expect(JSON.stringify(start.data)).toContain('terminal');
    expect(JSON.stringify(start.data)).toMatch(/codex|open-interpreter-rust/);
    const pubKey = env.OI_AUDIT_SIGNING_KEY_FILE!.replace(/\.pem$/, '.pub.pem');
    const verified = await runCli(['verify', join(work, 'sub', 'logs'), '--key', env.OI_AUDIT_MAC_SEED_FILE!, '--public-key', pubKey]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  }, 300_000);
});
