import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { containedAppServer, sandboxUid } from '../../src/agents/rust/contained-app-server.js';
import { BWRAP_BIN, SandboxUnavailableError } from '../../src/agents/sandbox/bwrap.js';

const saved = process.env.OI_AUDIT_SIGNING_KEY_FILE;
afterEach(() => {
  if (saved === undefined) delete process.env.OI_AUDIT_SIGNING_KEY_FILE;
  else process.env.OI_AUDIT_SIGNING_KEY_FILE = saved;
});

function dirs() {
  const root = mkdtempSync(join(tmpdir(), 'oi-rust-box-'));
  const workDir = join(root, 'work');
  const homeDir = join(root, 'home');
  const socketDir = join(root, 'sock');
  for (const d of [workDir, homeDir, socketDir]) mkdirSync(d);
  return { root, workDir, homeDir, socketDir };
}

const base = (d: ReturnType<typeof dirs>) => ({
  bin: process.execPath,
  args: ['app-server'],
  workDir: d.workDir,
  homeDir: d.homeDir,
  socketDir: d.socketDir,
  env: { PATH: '/usr/bin:/bin', CODEX_HOME: d.homeDir, OI_AUDIT_HOOK_TOKEN: 't', AWS_SECRET_ACCESS_KEY: 'nope', HOME: '/root' },
  keepEnv: ['CODEX_HOME', 'OI_AUDIT_HOOK_TOKEN'],
  hide: [],
});

describe('containedAppServer', () => {
  it('bwrap: no capabilities, a user namespace with a non-root uid, home writable, socket dir read-only, key files masked, env allow-listed', () => {
    const d = dirs();
    const key = join(d.workDir, 'signing.pem');
    writeFileSync(key, 'KEY');
    process.env.OI_AUDIT_SIGNING_KEY_FILE = key;
    const plan = containedAppServer({ ...base(d), containment: { sandbox: 'bwrap', network: 'shared' } });
    expect(plan.command).toBe(BWRAP_BIN);
    const a = plan.args;
    const at = (flag: string, value: string) => a.some((x, i) => x === flag && a[i + 1] === value);
    expect(at('--cap-drop', 'ALL')).toBe(true);
    expect(a).toContain('--unshare-user');
    expect(at('--uid', String(sandboxUid()))).toBe(true);
    expect(sandboxUid()).not.toBe(0);
    expect(at('--bind', d.homeDir) && at('--bind', d.workDir)).toBe(true);
    expect(at('--ro-bind', d.socketDir) && !at('--bind', d.socketDir)).toBe(true);
    expect(a.some((x, i) => x === '--ro-bind' && a[i + 1] === '/dev/null' && a[i + 2] === key)).toBe(true);
    expect(a.slice(a.indexOf('--') + 1)).toEqual([process.execPath, 'app-server']);
    expect(plan.env).toMatchObject({ CODEX_HOME: d.homeDir, OI_AUDIT_HOOK_TOKEN: 't', HOME: d.workDir, TMPDIR: '/tmp' });
    expect(plan.env.AWS_SECRET_ACCESS_KEY).toBeUndefined();
  });

  it('OI_AUDIT_SANDBOX=none: the agent itself, with the environment it was given', () => {
    const d = dirs();
    const plan = containedAppServer({ ...base(d), containment: { sandbox: 'none', network: 'shared' } });
    expect(plan.command).toBe(process.execPath);
    expect(plan.args).toEqual(['app-server']);
    expect(plan.env.HOME).toBe('/root');
  });

  it('network none: refused without the sandbox or without the bridge (fail closed, never a shared network)', () => {
    const d = dirs();
    expect(() => containedAppServer({ ...base(d), containment: { sandbox: 'none', network: 'none' } })).toThrow(SandboxUnavailableError);
    expect(() => containedAppServer({ ...base(d), containment: { sandbox: 'bwrap', network: 'none' } })).toThrow(/network bridge/);
  });
});
