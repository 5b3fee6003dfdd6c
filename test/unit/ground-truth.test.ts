import { describe, expect, it } from 'vitest';
import { assessExec } from '../../src/agents/classic/process/ground-truth/assess.js';
import { SensitivePaths } from '../../src/agents/sandbox/sensitive-paths.js';
import { decodeString, normalise, StraceParser, type TraceFact } from '../../src/agents/classic/process/ground-truth/strace-parser.js';
import { GroundTruthTracker, type ProcessRecord } from '../../src/agents/classic/process/ground-truth/tracker.js';

/** strace -xx form of a string. */
const x = (s: string) => `"${[...Buffer.from(s, 'utf8')].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')}"`;
const fd = (n: number | 'AT_FDCWD', path: string) => `${n}<${x(path).slice(1, -1)}>`;

function parseAll(lines: string[]): TraceFact[] {
  const p = new StraceParser();
  return lines.map((l) => p.parse(l)).filter((f): f is TraceFact => f !== undefined);
}

describe('strace -xx -y parser', () => {
  it('decodes an execve whose argv holds quotes, commas, brackets and non-ASCII', () => {
    const argv = ['sh', '-c', 'echo "a, b" ] [ ) ( \'é\' \\ done'];
    const line = `1234  1700000000.123456 execve(${x('/bin/sh')}, [${argv.map(x).join(', ')}], 0x7ffd /* 12 vars */) = 0`;
    expect(parseAll([line])).toEqual([{ kind: 'exec', pid: 1234, time: 1700000000.123456, path: '/bin/sh', argv, argvTruncated: false, ok: true }]);
  });

  it('marks cut strings and cut arrays as truncated, and failed execs as not ok', () => {
    const facts = parseAll([
      `7 1.000001 execve(${x('/usr/bin/ls')}, [${x('ls')}, ${x('aaaa')}...], 0x1 /* 1 var */) = 0`,
      `7 1.000002 execve(${x('/usr/local/bin/ls')}, [${x('ls')}], 0x1 /* 1 var */) = -1 ENOENT (No such file or directory)`,
    ]);
    expect(facts[0]).toMatchObject({ argv: ['ls', 'aaaa'], argvTruncated: true, ok: true });
    expect(facts[1]).toMatchObject({ ok: false });
  });

  it('joins unfinished and resumed halves per pid, with other lines in between', () => {
    const facts = parseAll([
      `10 1.0 vfork( <unfinished ...>`,
      `11 1.1 execve(${x('/usr/bin/rm')}, [${x('rm')}, ${x('-rf')}, ${x('/w')}], 0x1 /* 3 vars */ <unfinished ...>`,
      `10 1.2 <... vfork resumed>) = 11`,
      `11 1.3 <... execve resumed>) = 0`,
      `11 1.4 +++ exited with 1 +++`,
    ]);
    expect(facts).toEqual([
      { kind: 'spawn', pid: 10, time: 1.0, child: 11, thread: false },
      { kind: 'exec', pid: 11, time: 1.1, path: '/usr/bin/rm', argv: ['rm', '-rf', '/w'], argvTruncated: false, ok: true },
      { kind: 'exit', pid: 11, time: 1.4, code: 1 },
    ]);
  });

  it('resolves openat/unlinkat paths against the dirfd path -y prints, and knows write flags', () => {
    const facts = parseAll([
      `5 2.0 openat(${fd('AT_FDCWD', '/home/w')}, ${x('sub/../f.txt')}, O_WRONLY|O_CREAT|O_TRUNC, 0666) = 3${fd(3, '/home/w/f.txt').slice(1)}`,
      `5 2.1 openat(${fd('AT_FDCWD', '/home/w')}, ${x('/etc/shadow')}, O_RDONLY) = -1 ENOENT (No such file or directory)`,
      `5 2.2 unlinkat(${fd(4, '/home/w/d')}, ${x('g')}, 0) = 0`,
      `5 2.3 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, exit_signal=0, stack=0x7f}, 88) = 6`,
      `5 2.4 +++ killed by SIGKILL +++`,
    ]);
    expect(facts[0]).toMatchObject({ kind: 'open', path: '/home/w/f.txt', write: true, create: true, ok: true });
    expect(facts[1]).toMatchObject({ kind: 'open', path: '/etc/shadow', write: false, ok: false, errno: 'ENOENT' });
    expect(facts[2]).toMatchObject({ kind: 'delete', path: '/home/w/d/g', ok: true });
    expect(facts[3]).toMatchObject({ kind: 'spawn', child: 6, thread: true });
    expect(facts[4]).toMatchObject({ kind: 'exit', signal: 'SIGKILL' });
  });

  it('counts what it does not understand instead of guessing, and survives garbage', () => {
    const p = new StraceParser();
    for (const junk of ['', 'garbage', '12 1.0 execve(', '12 1.0 <... clone resumed>) = 3', `12 1.0 openat(${'['.repeat(5000)}) = 0`, '\u0000\u00ff', '12 1.0 execve("\\x2", [], 0x0) = 0']) {
      expect(() => p.parse(junk)).not.toThrow();
    }
    expect(p.unparsed).toBeGreaterThan(3);
  });

  it('decodes escapes and normalises paths lexically', () => {
    expect(decodeString('"\\x2f\\x74\\x6d\\x70"...')).toEqual({ value: '/tmp', truncated: true });
    expect(normalise('/a/./b/../../..//c')).toBe('/c');
  });
});

describe('ground-truth attribution', () => {
  const secrets = new SensitivePaths(['/srv/keys/mac-seed']);
  function run(facts: TraceFact[], windows: Array<[number, number]>) {
    const t = new GroundTruthTracker(secrets, { initialCwd: '/w', isServerExec: (argv) => argv.includes('--server') });
    const reports = [];
    for (let i = 0; i < facts.length; i++) {
      if (windows.some(([a]) => a === i)) t.openWindow();
      t.push(facts[i]!);
      if (windows.some(([, b]) => b === i)) reports.push(t.closeWindow());
    }
    return { reports, outside: t.takeOutside() };
  }
  const exec = (pid: number, argv: string[], path = `/usr/bin/${argv[0]}`): TraceFact => ({ kind: 'exec', pid, time: pid, path, argv, argvTruncated: false, ok: true });
  const spawn = (pid: number, child: number, thread = false): TraceFact => ({ kind: 'spawn', pid, time: 0, child, thread });

  it('separates the server, its runtimes (kernel) and the programs the code starts', () => {
    const facts: TraceFact[] = [
      exec(1, ['bwrap']), // root: the launcher
      spawn(1, 2),
      exec(2, ['/v/bin/interpreter', '--server']),
      spawn(2, 3, true), // a server thread
      { kind: 'open', pid: 3, time: 0, path: '/etc/shadow', write: false, create: false, ok: false }, // OI's own: ignored
      spawn(3, 4), // the thread forks the kernel
      exec(4, ['/v/bin/python', '-m', 'ipykernel_launcher']),
      spawn(4, 5),
      { kind: 'chdir', pid: 5, time: 0, path: 'sub' },
      exec(5, ['ls', '/']),
      { kind: 'open', pid: 4, time: 0, path: '/srv/keys/mac-seed', write: false, create: false, ok: false, errno: 'ENOENT' },
      { kind: 'open', pid: 5, time: 0, path: 'out.txt', write: true, create: true, ok: true },
      { kind: 'exit', pid: 5, time: 0, code: 0 },
    ];
    const { reports } = run(facts, [[0, facts.length - 1]]);
    const [r] = reports;
    expect(r!.processes.map((p) => [p.role, p.argv[0], p.ppid])).toEqual([
      ['runtime', '/v/bin/python', 2],
      ['code', 'ls', 4],
    ]);
    expect(r!.processes[1]).toMatchObject({ cwd: '/w/sub', exitCode: 0 });
    expect(r!.sensitive).toEqual([{ path: '/srv/keys/mac-seed', class: 'oi_audit_secret', pid: 4, write: false, ok: false, errno: 'ENOENT' }]);
    expect(r!.files).toEqual([{ op: 'create', path: '/w/sub/out.txt', pid: 5, ok: true, count: 1 }]);
  });

  it('applies a child\'s facts that arrive before its parent\'s fork returns, in the window they arrived in', () => {
    const facts: TraceFact[] = [exec(1, ['bwrap']), spawn(1, 2), exec(2, ['bash']), exec(9, ['rm', '-rf', '/w']), spawn(2, 9)];
    const { reports } = run(facts, [[3, 4]]);
    expect(reports[0]!.processes.map((p) => p.argv[0])).toEqual(['rm']);
  });

  it('reports programs started outside any block as session-level activity, and bounds a block\'s records', () => {
    const facts: TraceFact[] = [exec(1, ['bwrap']), spawn(1, 2), exec(2, ['bash']), spawn(2, 3), exec(3, ['sleep', '100'])];
    expect(run(facts, []).outside.processes.map((p) => p.argv[0])).toEqual(['bash', 'sleep']);
    const many: TraceFact[] = [exec(1, ['bwrap']), spawn(1, 2), exec(2, ['bash'])];
    for (let i = 0; i < 2000; i++) many.push({ kind: 'delete', pid: 2, time: 0, path: `/w/f${i}`, ok: true });
    const r = run(many, [[0, many.length - 1]]).reports[0]!;
    expect(r.files.length).toBe(500);
    expect(r.dropped.files).toBe(1500);
  });
});

describe('judging what ran against the approved source', () => {
  const rec = (argv: string[]): ProcessRecord => ({ pid: 2, ppid: 1, role: 'code', path: `/usr/bin/${argv[0]}`, argv, argvTruncated: false, cwd: '/w', time: 0 });
  it('a program the source names is accounted; one built at run time is not, and is flagged', () => {
    expect(assessExec(rec(['ls', '/']), { language: 'python', code: "subprocess.run(['ls','/'])" })).toMatchObject({ accounted: true, risk: 'none' });
    const rm = assessExec(rec(['rm', '-f', 'x']), { language: 'python', code: "subprocess.run(bytes.fromhex('726d').decode()+' -f x', shell=True)\nprint('hi')" });
    expect(rm.accounted).toBe(false);
    expect(rm.rules).toContain('ground_truth.unaccounted_exec');
    expect(rm.risk).toMatch(/high|critical/);
    // The shell a shell=True call starts is the code's doing.
    expect(assessExec(rec(['sh', '-c', 'ls']), { language: 'python', code: "subprocess.run('ls', shell=True)" }).accounted).toBe(true);
  });
  it('a named but destructive program still raises the detection rules over its argv', () => {
    const a = assessExec(rec(['rm', '-rf', '/home/u']), { language: 'shell', code: 'rm -rf ~' });
    expect(a.accounted).toBe(true);
    expect(a.risk).not.toBe('none');
  });
});

describe('sensitive paths', () => {
  const s = new SensitivePaths(['/etc/oi/keys']);
  it('classifies credentials, environments and own secrets; not libraries', () => {
    expect(s.classify('/etc/shadow')).toBe('system_credentials');
    expect(s.classify('/proc/1/environ')).toBe('process_environment');
    expect(s.classify('/home/u/.ssh/id_ed25519')).toBe('ssh');
    expect(s.classify('/etc/oi/keys/mac-seed')).toBe('oi_audit_secret');
    expect(s.classify('/w/server.pem')).toBe('key_file');
    expect(s.classify('/root/.pyenv/versions/3.11.7/lib/python3.11/token.py')).toBeUndefined();
    expect(s.classify('/etc/ssl/certs/ca-certificates.crt')).toBeUndefined();
    expect(s.classify('/w/notes.txt')).toBeUndefined();
  });
});
