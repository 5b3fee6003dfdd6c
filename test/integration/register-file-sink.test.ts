import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, run, runCli } from '../helpers/cli.js';

const APP = join(REPO_ROOT, 'test/fixtures/audited-app.mjs');

function envFor(dir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OI_AUDIT_SINK_DIR: dir, OTEL_SERVICE_NAME: 'register-test', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test' };
  delete env.OTEL_EXPORTER_OTLP_ENDPOINT;
  return env;
}

function readJsonl(file: string): any[] {
  return readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

function auditBodies(dir: string): any[] {
  return readJsonl(join(dir, 'logs.jsonl')).flatMap((req) =>
    req.resourceLogs.flatMap((rl: any) => rl.scopeLogs.flatMap((sl: any) => sl.logRecords.map((r: any) => JSON.parse(r.body.stringValue)))),
  );
}

function spanNames(dir: string): string[] {
  return readJsonl(join(dir, 'traces.jsonl')).flatMap((req) =>
    req.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans.map((s: any) => s.name))),
  );
}

describe('node --import oi-audit/register with no endpoint (embedded file sink)', () => {
  it('writes OTLP JSON lines holding every record after a normal exit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oi-audit-reg-'));
    const sink = join(dir, 'sink');
    const result = await run(process.execPath, ['--import', 'oi-audit/register', APP], { env: envFor(sink) });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(statSync(sink).mode & 0o777).toBe(0o700);
    expect(statSync(join(sink, 'logs.jsonl')).mode & 0o777).toBe(0o600);
    const logsRequests = readJsonl(join(sink, 'logs.jsonl'));
    const resourceAttrs = logsRequests[0].resourceLogs[0].resource.attributes.map((a: any) => [a.key, a.value.stringValue]);
    expect(resourceAttrs).toContainEqual(['service.name', 'register-test']);
    expect(resourceAttrs).toContainEqual(['deployment.environment', 'test']);
    const events = auditBodies(sink).map((b) => b.event);
    expect(events).toEqual([
      'oi_audit.session.start',
      'oi_audit.user.input',
      'oi_audit.llm.request',
      'oi_audit.llm.response',
      'oi_audit.code.generated',
      'oi_audit.approval.decision',
      'oi_audit.command.executed',
      'oi_audit.command.output',
      'oi_audit.session.end',
      'oi_audit.integrity.checkpoint',
    ]);
    expect(spanNames(sink).sort()).toEqual(['chat demo-model', 'execute_tool python', 'invoke_agent open-interpreter', 'oi_audit.prompt']);
  });

  it('flushes and ends the open session on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oi-audit-reg-'));
    const sink = join(dir, 'sink');
    const child = spawn(process.execPath, ['--import', 'oi-audit/register', APP], {
      cwd: REPO_ROOT,
      env: { ...envFor(sink), WAIT_FOR_SIGNAL: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve) => child.stdout.on('data', (d) => String(d).includes('ready') && resolve()));
    child.kill('SIGTERM');
    const [code, signal] = await new Promise<[number | null, string | null]>((r) => child.on('close', (c, s) => r([c, s])));
    expect(signal === 'SIGTERM' || code === 143).toBe(true);
    const bodies = auditBodies(sink);
    const end = bodies.find((b) => b.event === 'oi_audit.session.end');
    expect(end?.data.outcome).toBe('aborted');
    expect(bodies.at(-1).event).toBe('oi_audit.integrity.checkpoint');
    expect(bodies.map((b) => b.seq)).toEqual(bodies.map((_, i) => i));
    expect(spanNames(sink)).toContain('invoke_agent open-interpreter');
  });

  it('oi-audit view prints the timeline and --json the assembled sessions', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oi-audit-reg-'));
    const sink = join(dir, 'sink');
    await run(process.execPath, ['--import', 'oi-audit/register', APP], { env: { ...envFor(sink), OI_AUDIT_CAPTURE: 'full' } });
    const text = await runCli(['view', sink]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Turn 0');
    expect(text.stdout).toContain('say the word marmalade');
    expect(text.stdout).toMatch(/code #0 python .*approved by policy/);
    expect(text.stdout).toContain('marmalade');
    expect(text.stdout).toMatch(/outcome complete/);
    expect(text.stdout).not.toMatch(/\u001b\[/);

    const json = await runCli(['view', '--json', sink]);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout);
    expect(parsed.sessions).toHaveLength(1);
    const session = parsed.sessions[0];
    expect(session.model).toBe('demo-model');
    expect(session.turns[0].code[0]).toMatchObject({ language: 'python', code: 'print("marmalade")', decision: 'approved', executed: true, output: 'marmalade\n' });
    expect(session.turns[0].llmCalls[0].finishReasons).toEqual(['stop']);
  });

  it('oi-audit view exits 2 naming file and line on malformed input', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oi-audit-reg-'));
    const bad = join(dir, 'logs.jsonl');
    (await import('node:fs')).writeFileSync(bad, '{"resourceLogs":[]}\n{not json\n');
    const result = await runCli(['view', bad]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${bad}:2`);
    expect(result.stdout).toBe('');
  });
});
