import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI, run } from '../helpers/cli.js';

/**
 * README's main command is `npx oi-audit demo`: npx runs the package's bin file directly (its shebang), so
 * the built file must be executable. tsc writes it 0644; `npm run build` marks it (a fresh clone once
 * answered "oi-audit: Permission denied").
 */
describe('the oi-audit bin as README runs it', () => {
  it('dist/cli/main.js is executable after the build', () => {
    expect(statSync(CLI).mode & 0o111).toBe(0o111);
  });

  it('`npx --no-install oi-audit --help` runs the CLI', async () => {
    const r = await run('npx', ['--no-install', 'oi-audit', '--help'], { env: { ...process.env, NO_COLOR: '1' } });
    expect(r.stderr).not.toMatch(/Permission denied/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/demo/);
  });
});
