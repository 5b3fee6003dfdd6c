/**
 * At-rest encryption cost: the embedded file sink as register() builds it (SimpleLogRecordProcessor →
 * FileLogRecordExporter, a synchronous append per record), plaintext and encrypted to a recipient
 * (OI_AUDIT_AT_REST_RECIPIENT: sealed-box segment key, one secretstream message per record, re-keyed),
 * in the same process, in rotating order. Reported: mean µs per 1 KiB audit event each, and their ratio
 * (figure `audit-event.1024.at_rest_ratio`, bench/run.js).
 *
 * Usage: node --expose-gc bench/at-rest.js --size 1024 --events 20000 [--warmup 2000] [--rounds 3]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { AuditRecorder } from '../dist/audit/recorder.js';
import { generateAtRestKeyPair } from '../dist/at-rest/keys.js';
import { loadSodium } from '../dist/at-rest/sodium.js';
import { FileLogRecordExporter } from '../dist/otel/file-sink.js';
import { makeContents } from './lib/content.js';
import { emitResult, gc, parseArgs, yieldToLoop } from './lib/worker.js';

const args = parseArgs();
const size = Number(args.size ?? 1024);
const events = Number(args.events ?? 20_000);
const warmup = Number(args.warmup ?? Math.min(2_000, events));
const rounds = Number(args.rounds ?? 3);
const contents = makeContents(size, 64, size);
const { recipient } = generateAtRestKeyPair(await loadSodium());

function variant(name, options) {
  const dir = mkdtempSync(join(tmpdir(), `oi-audit-bench-at-rest-${name}-`));
  const exporter = new FileLogRecordExporter(dir, options);
  const loggerProvider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter })] });
  const recorder = new AuditRecorder({ tracerProvider: new BasicTracerProvider(), loggerProvider, config: { handleSignals: false } });
  const turn = recorder.openSession({ userId: 'bench-user', model: 'scripted', policy: 'all' }).startTurn('benchmark turn');
  return {
    name,
    async run(n) {
      gc();
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        turn.assistantMessage(contents[i % contents.length]);
        if ((i + 1) % 64 === 0) await yieldToLoop();
      }
      await exporter.forceFlush();
      return ((performance.now() - t0) * 1000) / n;
    },
    async close() {
      await loggerProvider.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const plain = variant('plain', {});
const encrypted = variant('encrypted', { atRestRecipient: recipient });
for (const v of [plain, encrypted]) await v.run(warmup);
const us = { plain: [], encrypted: [] };
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? [plain, encrypted] : [encrypted, plain];
  for (const v of order) us[v.name].push(await v.run(events));
}
for (const v of [plain, encrypted]) await v.close();
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
emitResult({ size, events, rounds, plainMeanUs: mean(us.plain), encryptedMeanUs: mean(us.encrypted), ratio: mean(us.encrypted) / mean(us.plain) });
