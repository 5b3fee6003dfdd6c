import { detectCode } from '../../src/detect/engine.js';
import { AUDIT_EVENT_NAMES } from '../../src/semconv/events.js';
import { inMemoryRecorder } from './in-memory.js';

/** One session that emits every audit event type, through the real audit pipeline. */
export function everyEventSession() {
  const { recorder, logs } = inMemoryRecorder({ config: { checkpointEvery: 5 } });
  const session = recorder.openSession({ userId: 'alice', clientAddress: '10.1.2.3', model: 'gpt-4o', policy: 'policy', openInterpreterVersion: '0.4.3' });
  const turn = session.startTurn('read my ssh key please');
  const gen = turn.startGeneration({ model: 'gpt-4o', provider: 'openai', messages: [{ role: 'user', content: 'read my ssh key please' }], stream: true });
  gen.firstChunk();
  gen.end({ content: '```shell\ncat ~/.ssh/id_rsa\n```', finishReasons: ['stop'], responseModel: 'gpt-4o-2024-08-06', inputTokens: 120, outputTokens: 14, chunks: 5 });
  turn.assistantMessage('I will read the key.');
  const risky = 'cat ~/.ssh/id_rsa && sudo cat /etc/shadow';
  const r = detectCode('shell', risky);
  const refused = turn.proposeCode({ language: 'shell', code: risky, risk: { level: r.level, rules: r.rules } });
  refused.decide({ decision: 'refused', decider: 'policy', reason: 'risk critical: refused by policy', rules: r.rules });
  const ok = turn.proposeCode({ language: 'python', code: 'print(1 + 1)', risk: { level: 'none', rules: [] } });
  ok.decide({ decision: 'approved', decider: 'user' });
  ok.started();
  ok.recordGroundTruth('process', { program: 'rm', argv: ['rm', '-f', 'x'], pid: 12, ppid: 11, role: 'code', accounted: false }, { level: 'high', rules: ['ground_truth.unaccounted_exec'], reason: 'program rm is not named by the approved code' });
  ok.recordGroundTruth('file_write', { op: 'create', path: '/w/out.txt', pid: 12, ok: true, count: 1 });
  ok.recordGroundTruth('file_delete', { op: 'delete', path: '/w/x', pid: 12, ok: true, count: 1 });
  ok.recordGroundTruth('sensitive_read', { path: '/etc/shadow', class: 'system_credentials', pid: 12, ok: false }, { level: 'high', rules: ['ground_truth.sensitive_read'], reason: 'system_credentials path /etc/shadow opened' });
  ok.recordGroundTruthSummary({ source: 'strace', processes: 1 });
  ok.output('2\n');
  ok.image('base64.png', 2048);
  ok.end({ error: true, errorMessage: 'Traceback: boom' });
  const gen2 = turn.startGeneration({ model: 'gpt-4o', provider: 'openai', messages: [], stream: true });
  gen2.fail('upstream_500', 'upstream returned 500');
  session.recordSettingsRefused('auto_run', 'auto_run would skip approval', true);
  session.recordLoss(3, 'spool full');
  session.recordMaintenance({ action: 'rotated', file: '/var/log/oi-audit/logs.20261202T194354Z.jsonl.gz', bytes: 4096, sessions: [] });
  turn.end('complete');
  session.end('complete');
  const records = logs.getFinishedLogRecords();
  const bodies = records.map((rec) => String(rec.body));
  const seen = new Set(bodies.map((b) => (JSON.parse(b) as { event: string }).event));
  const missing = AUDIT_EVENT_NAMES.filter((e) => !seen.has(e));
  return { records, bodies, missing, rules: r.rules, level: r.level };
}
