/**
 * Helper process for the gateway part: the oi-audit gateway (src/gateway/gateway.ts) with its recorder
 * exporting over OTLP to the local sink, as `oi-audit gateway` runs it. This process is "oi-audit" in the
 * measurement: its own CPU and RSS are reported, its descendants (Open Interpreter, the sandbox, the
 * execution tracer) apart.
 */
import { AuditRecorder } from '../../dist/audit/recorder.js';
import { startGateway } from '../../dist/gateway/gateway.js';
import { serveCommands } from './ipc-child.js';
import { createProviders } from './otel.js';

let gateway;
let providers;

serveCommands({
  async start({ sinkUrl, modelUrl, tokens }) {
    providers = createProviders(sinkUrl, { onQueueFull: () => undefined });
    const recorder = new AuditRecorder({ tracerProvider: providers.tracerProvider, loggerProvider: providers.loggerProvider, config: { handleSignals: false } });
    gateway = await startGateway({
      recorder,
      users: new Map(tokens.map((t, i) => [t, { userId: `bench-user-${i}` }])),
      upstreamBaseUrl: modelUrl,
      model: 'scripted',
      policy: 'all',
      limits: { maxSessions: tokens.length, maxSessionsPerToken: 1 },
      // No shared workDir: each session gets its own (as `oi-audit gateway` runs them).
      session: { chunkTimeoutMs: 120_000, startTimeoutMs: 180_000 },
    });
    return { url: gateway.url, pid: process.pid };
  },
  async usage() {
    const cpu = process.cpuUsage();
    return { cpuMs: (cpu.user + cpu.system) / 1000, rss: process.memoryUsage().rss, maxRssKiB: process.resourceUsage().maxRSS, active: gateway?.activeSessions ?? 0 };
  },
  async close() {
    await gateway?.close();
    await providers?.forceFlush();
    await providers?.shutdown();
    return true;
  },
});
