/**
 * `oi-audit seal-archive` on the real Collector's archive (collector-config/otelcol.yaml, file exporter,
 * zstd): an audited session reaches the archive, the Collector stops (the file is closed) and the file is
 * rotated aside as lumberjack does (a rename to <name>-<UTC time>.zst); sealing turns it into a file that
 * holds none of the session in plaintext, that only the identity reads, and that verifies VALID.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CollectorHandle, ensureCollectorBinary, readZstdArchive, tempDir, waitFor } from '../helpers/collector-stack.js';
import { otelcolSetup } from '../helpers/otelcol-stack.js';
import { REPO_ROOT, runCli } from '../helpers/cli.js';

const CANARY = 'ARCHIVE-CANARY-91b2-quarterly-numbers';
const running: CollectorHandle[] = [];
afterAll(async () => {
  for (const c of running.reverse()) await c.stop().catch(() => undefined);
});

function runApp(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'test/fixtures/spool-app.mjs')], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('seal-archive', () => {
  it(
    'seals a closed archive file of the real Collector: no plaintext left, verify --identity VALID, without it exit 2, a flipped byte refused',
    async () => {
      await ensureCollectorBinary();
      const dir = tempDir('seal-archive');
      const keys = join(dir, 'keys');
      const gen = await runCli(['keygen', keys, '--at-rest', '--json']);
      expect(gen.code, gen.stderr).toBe(0);
      const { env: keyEnv } = JSON.parse(gen.stdout) as { env: Record<string, string> };
      // Only the archive runs: Tempo, Loki and the SIEM point at closed ports.
      const setup = await otelcolSetup(dir);
      const { archiveDir } = setup;
      const collector = await setup.start('otelcol-seal');
      running.push(collector);

      // The app's own keys, no at-rest recipient: the archive is the Collector's plaintext.
      const app = await runApp({ ...keyEnv, OTEL_EXPORTER_OTLP_ENDPOINT: setup.otlpUrl, OI_AUDIT_SPOOL_DIR: join(dir, 'spool'), EVENTS: '200', MODE: 'exit', CONTENT: CANARY });
      expect(app.code, app.stderr).toBe(0);
      const session = app.stdout.split(' ')[1]!;
      const active = join(archiveDir, 'audit-logs.otlp.json.zst');
      await waitFor(async () => JSON.stringify(await readZstdArchive(active).catch(() => [])).includes('oi_audit.session.end'), { timeoutMs: 30_000, intervalMs: 300, what: 'the session end in the archive' });
      await collector.stop();
      expect(readFileSync(active).length).toBeGreaterThan(0);

      // Rotation as lumberjack does it: rename the closed file; a new active file is the one being written.
      const rotated = join(archiveDir, 'audit-logs.otlp.json-2026-12-02T19-43-54.000.zst');
      renameSync(active, rotated);
      copyFileSync(rotated, active);
      const sealedRun = await runCli(['seal-archive', archiveDir, '--recipient', join(keys, 'at-rest.recipient'), '--json']);
      expect(sealedRun.code, sealedRun.stderr).toBe(0);
      const report = JSON.parse(sealedRun.stdout) as { sealed: Array<{ source: string; sealed: string; requests: number }>; failed: unknown[] };
      expect(report.failed).toEqual([]);
      expect(report.sealed.map((s) => s.source)).toEqual([rotated]);
      expect(report.sealed[0]!.requests).toBeGreaterThan(0);
      const sealed = report.sealed[0]!.sealed;
      expect(existsSync(rotated)).toBe(false);
      expect(existsSync(active)).toBe(true); // the file being written is never sealed from a directory scan
      expect(readdirSync(archiveDir).sort()).toEqual(['audit-logs.otlp.json-2026-12-02T19-43-54.000.sealed.jsonl', 'audit-logs.otlp.json.zst']);
      const text = readFileSync(sealed, 'latin1');
      for (const needle of [CANARY, session, 'oi_audit.user.input', 'spool test']) expect(text).not.toContain(needle);

      const verifyArgs = ['verify', sealed, '--key', join(keys, 'mac-seed'), '--public-key', join(keys, 'signing-key.pub.pem')];
      const withIdentity = await runCli([...verifyArgs, '--identity', join(keys, 'at-rest.identity')]);
      expect(withIdentity.code, withIdentity.stdout + withIdentity.stderr).toBe(0);
      expect(withIdentity.stdout).toMatch(/VALID/);
      expect(withIdentity.stdout).toContain(session);
      const without = await runCli(verifyArgs);
      expect(without.code).toBe(2);
      expect(without.stderr).toMatch(/encrypted at rest.*--identity/);
      expect(without.stdout).toBe('');
      const viewed = await runCli(['view', sealed, '--identity', join(keys, 'at-rest.identity')]);
      expect(viewed.code, viewed.stderr).toBe(0);
      expect(viewed.stdout).toContain(CANARY);

      const lines = text.split('\n');
      const b = Buffer.from(lines[1]!, 'base64');
      b[b.length - 1]! ^= 0x01;
      lines[1] = b.toString('base64');
      const flipped = join(dir, 'flipped.sealed.jsonl');
      writeFileSync(flipped, lines.join('\n'));
      const bad = await runCli(['verify', flipped, '--identity', join(keys, 'at-rest.identity')]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/does not authenticate/);
    },
    240_000,
  );
});
