/**
 * register()'s OTLP export as the spec sets it up: `http/protobuf` (the default) with
 * OTEL_EXPORTER_OTLP_COMPRESSION=gzip, into the real Collector running collector-config/otelcol.yaml.
 * A recording pass-through in front of the Collector shows what went over the wire; the archive must hold
 * every body the app sealed, byte for byte; the app's GenAI metrics must reach the metrics route (the
 * Collector's Prometheus scrape endpoint) with their attributes as labels.
 */
import { spawn } from 'node:child_process';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/cli.js';
import { ensureCollectorBinary, flattenLogs, listFiles, readZstdArchive, tempDir, waitFor } from '../helpers/collector-stack.js';
import { startFanoutStack } from '../helpers/otelcol-stack.js';

const APP = join(REPO_ROOT, 'test/fixtures/otlp-app.mjs');

/** Forwards every request unchanged and remembers path, Content-Type and Content-Encoding. */
function recordingProxy(target: number): Promise<{ server: Server; port: number; seen: Array<{ path: string; type: string; encoding: string; bytes: number }> }> {
  const seen: Array<{ path: string; type: string; encoding: string; bytes: number }> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ path: req.url ?? '', type: (req.headers['content-type'] ?? ''), encoding: (req.headers['content-encoding'] ?? ''), bytes: body.length });
      const headers = { ...req.headers, host: `127.0.0.1:${target}`, 'content-length': String(body.length) };
      const up = httpRequest({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.writeHead(502).end());
      up.end(body);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port, seen })));
}

function runApp(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [APP], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('OTLP http/protobuf + gzip from register() to the real Collector', () => {
  const stops: Array<() => Promise<unknown>> = [];
  let archiveDir: string;
  let promUrl: string;
  let proxy: Awaited<ReturnType<typeof recordingProxy>>;
  let app: { session: string; bodies: string[] };

  beforeAll(async () => {
    await ensureCollectorBinary();
    const dir = tempDir('otlp-proto');
    const { started, setup } = await startFanoutStack(dir, { prometheus: true });
    for (const h of started) stops.push(() => h.stop());
    archiveDir = setup.archiveDir;
    promUrl = `http://127.0.0.1:${setup.ports.prometheus}/metrics`;
    proxy = await recordingProxy(setup.ports.http);
    stops.push(() => new Promise((r) => proxy.server.close(r)));

    const env: Record<string, string> = {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${proxy.port}`,
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_SERVICE_NAME: 'oi-audit-otlp-proto',
      OI_AUDIT_SPOOL_DIR: join(dir, 'spool'),
    };
    delete process.env.OTEL_EXPORTER_OTLP_PROTOCOL; // the spec default must be what is used
    const result = await runApp(env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    app = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
  });

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  });

  it('sends protobuf, gzip-compressed, for traces, logs and metrics', () => {
    const paths = new Set(proxy.seen.map((s) => s.path));
    expect(paths).toEqual(new Set(['/v1/traces', '/v1/logs', '/v1/metrics']));
    for (const s of proxy.seen) {
      expect(s.type, s.path).toBe('application/x-protobuf');
      expect(s.encoding, s.path).toBe('gzip');
    }
  });

  it('the archive holds every body the app sealed, byte-identical', async () => {
    expect(app.bodies.length).toBeGreaterThan(8);
    const archived = await waitFor(
      async () => {
        const all = [];
        for (const f of listFiles(archiveDir)) all.push(...flattenLogs(await readZstdArchive(f.path)));
        const mine = all.filter((l) => l.attributes['session.id'] === app.session);
        return mine.length >= app.bodies.length ? mine : undefined;
      },
      { timeoutMs: 60_000, what: `${app.bodies.length} records of session ${app.session} in the archive` },
    );
    expect(archived.map((l) => l.body)).toEqual(app.bodies);
  });

  it('the GenAI metrics reach the metrics route with their attributes', async () => {
    const text = await waitFor(
      async () => {
        const body = await fetch(promUrl).then((r) => r.text(), () => '');
        return body.includes('gen_ai_client_token_usage') && body.includes('gen_ai_client_operation_duration') ? body : undefined;
      },
      { timeoutMs: 30_000, what: 'GenAI metrics at the Prometheus endpoint' },
    );
    const usage = text.split('\n').filter((l) => l.startsWith('gen_ai_client_token_usage_sum{'));
    const input = usage.find((l) => l.includes('gen_ai_token_type="input"'));
    const output = usage.find((l) => l.includes('gen_ai_token_type="output"'));
    expect(input).toMatch(/gen_ai_provider_name="openai"/);
    expect(input).toMatch(/gen_ai_request_model="scripted"/);
    expect(input).toMatch(/gen_ai_response_model="scripted-1"/);
    expect(input).toMatch(/ 21$/);
    expect(output).toMatch(/ 7$/);
    expect(text).toMatch(/gen_ai_client_operation_time_to_first_chunk_seconds_count\{[^}]*\} 1/);
    expect(text).toMatch(/gen_ai_execute_tool_duration_seconds_count\{[^}]*gen_ai_tool_name="python"[^}]*\} 1/);
    expect(text).toMatch(/oi_audit_blocks_total\{[^}]*oi_audit_approval_decision="approved"[^}]*\} 1/);
  });
});
