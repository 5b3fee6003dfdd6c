import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentEnvironment } from '../../src/agents/rust/audited-rust-interpreter.js';
import { bindingSha256, matchesApproved, modelCommand, shellSplit } from '../../src/agents/rust/binding.js';
import { parseVersionLine } from '../../src/agents/rust/binary.js';
import { renderConfigToml, shellQuote, threadStartOverrides } from '../../src/agents/rust/home.js';
import { startHookServer } from '../../src/agents/rust/hook-server.js';

function ask(socketPath: string, line: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath);
    let text = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(line));
    s.on('data', (d: string) => (text += d));
    s.on('end', () => resolve(JSON.parse(text.trim()) as Record<string, unknown>));
    s.on('error', reject);
  });
}

describe('approval binding', () => {
  it('unwraps the shell invocation Codex reports and compares it exactly with the hooked command', () => {
    const approved = { command: "echo hi > made.txt && printf 'a\\nb\\n'; exit 3", cwd: '/w' };
    const line = `/bin/bash -lc "echo hi > made.txt && printf 'a\\\\nb\\\\n'; exit 3"`;
    expect(shellSplit(line)).toEqual(['/bin/bash', '-lc', approved.command]);
    expect(matchesApproved(line, '/w', approved)).toBe(true);
    expect(matchesApproved(line, '/elsewhere', approved)).toBe(false);
    expect(matchesApproved("/bin/bash -lc 'ls -la'", '/w', { command: 'ls', cwd: '/w' })).toBe(false);
    // A command smuggled after the script is not the approved one.
    expect(matchesApproved("/bin/bash -lc 'ls' extra", '/w', { command: 'ls', cwd: '/w' })).toBe(false);
    expect(matchesApproved("/bin/bash -lc 'unterminated", '/w', { command: 'unterminated', cwd: '/w' })).toBe(false);
    expect(modelCommand("/bin/bash -lc 'ls -la'")).toBe('ls -la');
  });

  it('binds to command, cwd and item id: changing any one changes the hash', () => {
    const base = bindingSha256('ls', '/w', 'call_1');
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set([base, bindingSha256('ls ', '/w', 'call_1'), bindingSha256('ls', '/w2', 'call_1'), bindingSha256('ls', '/w', 'call_2')]).size).toBe(4);
  });
});

describe('the generated home', () => {
  it('config.toml routes the model to the proxy, keeps approvals untrusted, telemetry off and the work dir untrusted', () => {
    const toml = renderConfigToml({ kind: 'codex', llmBaseUrl: 'http://127.0.0.1:9/v1', model: 'm"x', sandbox: 'workspace-write', workDir: '/w/"q"', hookTimeoutSec: 600 });
    for (const line of ['approval_policy = "untrusted"', 'sandbox_mode = "workspace-write"', 'base_url = "http://127.0.0.1:9/v1"', 'wire_api = "responses"', 'metrics_exporter = "none"', 'check_for_update_on_startup = false', 'trust_level = "untrusted"', 'model = "m\\"x"', '[projects."/w/\\"q\\""]']) {
      expect(toml).toContain(line);
    }
    expect(renderConfigToml({ kind: 'interpreter', llmBaseUrl: 'u', model: 'm', sandbox: 'read-only', workDir: '/w', hookTimeoutSec: 60 })).toContain('wire_api = "chat"');
    expect(threadStartOverrides({ sandbox: 'workspace-write' })).toMatchObject({ approvalPolicy: 'untrusted', sandbox: 'workspace-write', config: { 'features.hooks': true } });
  });

  it('quotes hook command words for the shell', () => {
    expect(shellQuote("/a b/it's")).toBe(`'/a b/it'\\''s'`);
  });

  it("the agent's environment drops variables that would configure or move it", () => {
    const env = agentEnvironment({ PATH: '/bin', CODEX_HOME: '/evil', OPENAI_BASE_URL: 'http://evil', OI_AUDIT_MAC_SEED: 'seed', RUST_LOG: 'trace' }, '/home', 'tok', 'key');
    expect(env).toEqual({ PATH: '/bin', CODEX_HOME: '/home', INTERPRETER_HOME: '/home', OI_AUDIT_PROXY_KEY: 'key', OI_AUDIT_HOOK_TOKEN: 'tok' });
  });

  it('tells Codex from the Rust Open Interpreter by its --version line', () => {
    expect(parseVersionLine('codex-cli 0.148.0', '/x/codex')).toEqual({ kind: 'codex', version: '0.148.0' });
    expect(parseVersionLine('interpreter 0.0.40', '/x/interpreter')).toEqual({ kind: 'interpreter', version: '0.0.40' });
  });
});

describe('the hook socket', () => {
  it('never answers allow to a caller without the session token, nor to a malformed request', async () => {
    const socketPath = join(mkdtempSync(join(tmpdir(), 'oi-hook-unit-')), 'h.sock');
    const rejected: string[] = [];
    const server = await startHookServer({ socketPath, handle: async () => ({ decision: 'allow' }), onRejected: (why) => rejected.push(why) });
    try {
      expect(await ask(socketPath, `${JSON.stringify({ token: 'x'.repeat(64), input: {} })}\n`)).toMatchObject({ decision: 'deny' });
      expect(await ask(socketPath, `${JSON.stringify({ input: {} })}\n`)).toMatchObject({ decision: 'deny' });
      expect(await ask(socketPath, 'not json\n')).toMatchObject({ decision: 'deny' });
      expect(await ask(socketPath, `${JSON.stringify({ token: server.token, input: 'x' })}\n`)).toMatchObject({ decision: 'deny' });
      expect(rejected).toHaveLength(4);
      expect(await ask(socketPath, `${JSON.stringify({ token: server.token, input: {} })}\n`)).toEqual({ decision: 'allow' });
    } finally {
      await server.close();
    }
  });

  it('answers deny when the handler fails (fail-closed)', async () => {
    const socketPath = join(mkdtempSync(join(tmpdir(), 'oi-hook-unit-')), 'h.sock');
    const server = await startHookServer({ socketPath, handle: async () => Promise.reject(new Error('session ended')) });
    try {
      const a = await ask(socketPath, `${JSON.stringify({ token: server.token, input: {} })}\n`);
      expect(a.decision).toBe('deny');
      expect(String(a.reason)).toContain('session ended');
    } finally {
      await server.close();
    }
  });
});
