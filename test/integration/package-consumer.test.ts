/**
 * The package as a user installs it: `npm pack`, installed into a fresh project. Its types compile in a
 * strict consumer under TypeScript 5.9 (tsc) and 7 (tsgo, @typescript/native-preview), with the consumer's
 * own @types/node in scope and without it; `npx oi-audit demo` runs from it with node_modules read-only,
 * writes nothing under node_modules (the venv lives in the per-user cache or $OI_AUDIT_VENV), and the
 * package ships its docs and reports its package.json version.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, run } from '../helpers/cli.js';

const TSC = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const TSGO = join(REPO_ROOT, 'node_modules', '.bin', 'tsgo');

const APP_TS = `import { register, getAuditRecorder, type AuditHandle, type RegisterOptions } from 'oi-audit';
const options: RegisterOptions = { sink: 'file', sinkDir: './audit', handleSignals: false, capture: 'redacted' };
const audit: AuditHandle = register(options, { OI_AUDIT_FAIL_MODE: 'closed' });
const session = getAuditRecorder().openSession({ userId: 'u', model: 'm' });
const turn = session.startTurn('hi');
const gen = turn.startGeneration({ model: 'm', provider: 'openai', stream: false, messages: [] });
gen.end({ content: 'ok', inputTokens: 1, outputTokens: 1 });
turn.end('complete');
session.end();
const healthy: boolean = audit.auditHealthy();
void audit.shutdown().then(() => healthy);
`;

function listAll(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    out.push(p);
    if (entry.isDirectory()) listAll(p, out);
  }
  return out;
}

describe('the packed package in a fresh consumer project', () => {
  let project: string;

  beforeAll(() => {
    const base = mkdtempSync(join(tmpdir(), 'oi-audit-consumer-'));
    const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', base], { cwd: REPO_ROOT, encoding: 'utf8' }).trim().split('\n').at(-1)!;
    project = join(base, 'app');
    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { 'oi-audit': `file:${join(base, packed)}` } }));
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: project, stdio: 'pipe' });
    writeFileSync(join(project, 'src', 'app.ts'), APP_TS);
    const tsconfig = (types: string[]) => ({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, types },
      include: ['src/**/*.ts'],
    });
    writeFileSync(join(project, 'tsconfig.no-node.json'), JSON.stringify(tsconfig([])));
    writeFileSync(join(project, 'tsconfig.node.json'), JSON.stringify(tsconfig(['node'])));
  }, 600_000);

  for (const [compiler, bin] of [['TypeScript 5.9 (tsc)', TSC], ['TypeScript 7 (tsgo)', TSGO]] as const) {
    for (const variant of ['no-node', 'node'] as const) {
      it(`${compiler}, strict, ${variant === 'node' ? 'with' : 'without'} @types/node in the consumer's types: no errors`, async () => {
        expect(existsSync(bin), `${bin} is installed by npm ci`).toBe(true);
        const result = await run(process.execPath, [bin, '-p', `tsconfig.${variant}.json`], { cwd: project });
        expect(result.stdout + result.stderr).toBe('');
        expect(result.code).toBe(0);
      });
    }
  }

  it('ships the docs its help points to, and reports the version of its package.json', async () => {
    const pkgDir = join(project, 'node_modules', 'oi-audit');
    for (const doc of ['semantic-conventions.md', 'operations.md']) expect(existsSync(join(pkgDir, 'docs', doc)), doc).toBe(true);
    const version = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;
    const result = await run(process.execPath, [join(pkgDir, 'dist', 'cli', 'main.js'), '--version'], { cwd: project });
    expect(result.stdout.trim()).toBe(version);
  });

  it('npx oi-audit demo works with node_modules read-only and writes nothing under node_modules', async () => {
    const nm = join(project, 'node_modules');
    const before = listAll(nm).sort();
    chmodSync(nm, 0o555);
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
      delete env.OTEL_EXPORTER_OTLP_ENDPOINT;
      const result = await run('npx', ['--no-install', 'oi-audit', 'demo', '--out', './audit-logs', '--approve', 'all', '--json'], { cwd: project, env });
      expect(result.code, result.stderr).toBe(0);
      const out = JSON.parse(result.stdout) as { sink: string; sessions: unknown[] };
      expect(out.sink).toBe('file');
      expect(out.sessions).toHaveLength(1);
      expect(statSync(join(project, 'audit-logs', 'metrics.jsonl')).size).toBeGreaterThan(0);
    } finally {
      chmodSync(nm, 0o755);
    }
    expect(listAll(nm).sort()).toEqual(before);
  });
});
