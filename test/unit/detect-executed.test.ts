/**
 * Ground truth: what really ran is judged by the same rules, so an obfuscated block whose source looked
 * harmless is still flagged for the `rm -rf` it exec'd, the key it read, the file it deleted.
 */
import { describe, expect, it } from 'vitest';
import { detectExecuted, detectProcess } from '../../src/detect/executed.js';

const home = '/home/alice';

describe('detectExecuted', () => {
  it('flags a process that deleted the home directory, whatever the source looked like', () => {
    const r = detectProcess({ argv: ['rm', '-rf', '/home/alice'], cwd: '/home/alice/work' }, { home });
    expect(r.level).toBe('critical');
    expect(r.rules).toContain('OIA-IMP-010');
  });

  it('judges inline code of interpreters that ran', () => {
    const r = detectExecuted([{ argv: ['python3', '-c', "import shutil,pathlib; shutil.rmtree(pathlib.Path.home())"] }], [], { home });
    expect(r.rules).toContain('OIA-IMP-010');
  });

  it('flags credential reads and deletes outside the workspace from file events', () => {
    const r = detectExecuted([], [
      { op: 'read', path: '/home/alice/.ssh/id_rsa' },
      { op: 'delete', path: '/home/alice/Documents/thesis.tex' },
    ], { home, workspace: '/home/alice/work' });
    expect(r.rules).toEqual(expect.arrayContaining(['OIA-CRED-010', 'OIA-IMP-011']));
  });

  it('does not flag ordinary work inside the workspace', () => {
    const r = detectExecuted(
      [{ argv: ['git', 'status'], cwd: '/home/alice/work' }, { argv: ['rm', '-rf', 'build'], cwd: '/home/alice/work' }],
      [{ op: 'delete', path: '/home/alice/work/build/a.o' }, { op: 'delete', path: '/tmp/x' }, { op: 'delete', path: '/home/alice/.cache/pip/y' }],
      { home, workspace: '/home/alice/work' },
    );
    expect(r.level).not.toBe('high');
    expect(r.level).not.toBe('critical');
  });
});

describe('fail closed and bounded', () => {
  it('holds a block over the parse cap instead of approving it unread', async () => {
    const { detectCode } = await import('../../src/detect/engine.js');
    const r = detectCode('shell', 'echo ok\n'.repeat(40_000));
    expect(r.rules).toContain('OIA-DET-001');
    expect(r.level).toBe('high');
  });

  it('finishes on deep nesting and long lines', async () => {
    const { detectCode } = await import('../../src/detect/engine.js');
    expect(detectCode('python', '('.repeat(5000) + '1' + ')'.repeat(5000)).level).toBeDefined();
    expect(detectCode('shell', 'echo ' + 'a'.repeat(200_000)).level).toBeDefined();
    expect(detectCode('python', 'x = [' + '1,'.repeat(50_000) + ']').level).toBeDefined();
  });
});
