/**
 * The Collector running collector-config/otelcol.yaml as the integration and e2e tests start it, and the
 * stand-ins it fans out to. Its listeners go on free loopback ports, its data, token file and archive
 * under `<dir>/collector` (the parent is mounted: the Collector creates data/ and archive/ itself, with
 * the modes otelcol.yaml sets). A back end the test does not run points at a closed port: that exporter
 * queues and retries, as it would against a back end that is down.
 */
import { join } from 'node:path';
import {
  LOKI_STANDIN_CONFIG,
  OTELCOL_CONFIG,
  TEMPO_STANDIN_CONFIG,
  flattenLogs,
  freePorts,
  listFiles,
  otelcolEnv,
  readJsonLines,
  readZstdArchive,
  recordKey,
  scrapeCounter,
  startCollector,
  startRsyslog,
  waitFor,
  type CollectorHandle,
  type OtelcolPorts,
  type ReceivedLog,
  type RsyslogHandle,
  type StartCollectorOptions,
  type SyslogMessage,
} from './collector-stack.js';

/** Where otelcol.yaml sends: Tempo host:port (OTLP gRPC), Loki base URL, the SIEM's syslog port on loopback. */
export interface Fanout {
  tempo: string;
  loki: string;
  siemPort: number;
}

export interface OtelcolSetup {
  ports: OtelcolPorts;
  /** The environment otelcol.yaml reads (otelcolEnv). */
  env: Record<string, string>;
  /** startCollector options without the name (the health endpoint, the collector directory). */
  options: StartCollectorOptions;
  archiveDir: string;
  /** http://127.0.0.1:<OTLP/HTTP port> */
  otlpUrl: string;
  /** The Collector's own metrics, http://127.0.0.1:<port>/metrics */
  metricsUrl: string;
  /** Start (or start again, on the same data directory) a Collector with this setup. */
  start(name: string): Promise<CollectorHandle>;
}

/**
 * Ports, environment and start options for otelcol.yaml under `<dir>/collector`. `fanout` names the back
 * ends that run (the rest get a closed port); `prometheus` gives the app-metrics scrape endpoint a port.
 */
export async function otelcolSetup(
  dir: string,
  o: { fanout?: Partial<Fanout>; prometheus?: boolean; extra?: Record<string, string> } = {},
): Promise<OtelcolSetup> {
  const [grpc, http, health, metrics, prometheus, deadTempo, deadLoki, deadSiem] = await freePorts(8);
  const ports: OtelcolPorts = { grpc: grpc!, http: http!, health: health!, metrics: metrics!, ...(o.prometheus ? { prometheus: prometheus! } : {}) };
  const collectorDir = join(dir, 'collector');
  const archiveDir = join(collectorDir, 'archive');
  const env = otelcolEnv({
    ports,
    dataDir: join(collectorDir, 'data'),
    tokenFile: join(collectorDir, 'otlp-bearer-tokens'),
    archiveDir,
    tempo: o.fanout?.tempo ?? `127.0.0.1:${deadTempo}`,
    loki: o.fanout?.loki ?? `http://127.0.0.1:${deadLoki}`,
    siemPort: o.fanout?.siemPort ?? deadSiem!,
    ...(o.extra ? { extra: o.extra } : {}),
  });
  const options: StartCollectorOptions = { healthEndpoint: `127.0.0.1:${ports.health}`, dirs: [collectorDir] };
  return {
    ports,
    env,
    options,
    archiveDir,
    otlpUrl: `http://127.0.0.1:${ports.http}`,
    metricsUrl: `http://127.0.0.1:${ports.metrics}/metrics`,
    start: (name) => startCollector(OTELCOL_CONFIG, env, { ...options, name }),
  };
}

export interface Standins {
  rsyslog: RsyslogHandle;
  /** What the Tempo and the Loki stand-in received (OTLP JSON lines). */
  tempoOut: string;
  lokiOut: string;
  fanout: Fanout;
  /** rsyslog, Tempo, Loki in start order (stop them in reverse). */
  started: Array<{ stop(): Promise<void> }>;
}

/**
 * The back ends as the fan-out tests run them: Debian rsyslog as the SIEM, and Collectors with the
 * Tempo and Loki stand-in configs (collector-config/test/) writing what they receive under `dir`.
 */
export async function startStandins(dir: string): Promise<Standins> {
  const [tGrpc, tHttp, tHealth, lHttp, lHealth] = await freePorts(5);
  const tempoOut = join(dir, 'tempo', 'traces.jsonl');
  const lokiOut = join(dir, 'loki', 'logs.jsonl');
  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    const rsyslog = await startRsyslog();
    started.push(rsyslog);
    started.push(
      await startCollector(
        TEMPO_STANDIN_CONFIG,
        { STANDIN_GRPC_ENDPOINT: `127.0.0.1:${tGrpc}`, STANDIN_HTTP_ENDPOINT: `127.0.0.1:${tHttp}`, STANDIN_HEALTH_ENDPOINT: `127.0.0.1:${tHealth}`, STANDIN_OUTPUT: tempoOut },
        { name: 'tempo-standin', healthEndpoint: `127.0.0.1:${tHealth}`, dirs: [join(dir, 'tempo')] },
      ),
    );
    started.push(
      await startCollector(
        LOKI_STANDIN_CONFIG,
        { STANDIN_HTTP_ENDPOINT: `127.0.0.1:${lHttp}`, STANDIN_HEALTH_ENDPOINT: `127.0.0.1:${lHealth}`, STANDIN_OUTPUT: lokiOut },
        { name: 'loki-standin', healthEndpoint: `127.0.0.1:${lHealth}`, dirs: [join(dir, 'loki')] },
      ),
    );
    return { rsyslog, tempoOut, lokiOut, fanout: { tempo: `127.0.0.1:${tGrpc}`, loki: `http://127.0.0.1:${lHttp}`, siemPort: rsyslog.port }, started };
  } catch (e) {
    // What did start is stopped here: the caller never got the handles.
    for (const s of started.reverse()) await s.stop().catch(() => undefined);
    throw e;
  }
}

export interface FanoutStack extends Standins {
  setup: OtelcolSetup;
  collector: CollectorHandle;
}

/** The stand-ins and a Collector (named otelcol) fanning out to them; `started` holds all four in start order. */
export async function startFanoutStack(dir: string, o: { prometheus?: boolean; extra?: Record<string, string> } = {}): Promise<FanoutStack> {
  const standins = await startStandins(dir);
  try {
    const setup = await otelcolSetup(dir, { ...o, fanout: standins.fanout });
    const collector = await setup.start('otelcol');
    return { ...standins, started: [...standins.started, collector], setup, collector };
  } catch (e) {
    for (const s of standins.started.reverse()) await s.stop().catch(() => undefined);
    throw e;
  }
}

// What the back ends received, once all of it is there.

/** The log records a stand-in wrote to `file` (OTLP JSON lines), once there are at least `n`. */
export function standinLogs(file: string, n: number, where: string): Promise<ReceivedLog[]> {
  return waitFor(
    () => {
      const logs = flattenLogs(readJsonLines(file));
      return logs.length >= n ? logs : undefined;
    },
    { timeoutMs: 60_000, what: `${n} records at the ${where}` },
  );
}

/** The log records in every file of the Collector's archive, once there are at least `n`. */
export function archivedLogs(archiveDir: string, n: number): Promise<ReceivedLog[]> {
  return waitFor(
    async () => {
      const logs: ReceivedLog[] = [];
      for (const f of listFiles(archiveDir)) logs.push(...flattenLogs(await readZstdArchive(f.path)));
      return logs.length >= n ? logs : undefined;
    },
    { timeoutMs: 30_000, what: 'records in the archive' },
  );
}

/** The messages rsyslog wrote, once there are at least `n`. */
export function syslogMessages(rsyslog: RsyslogHandle, n: number): Promise<SyslogMessage[]> {
  return waitFor(
    async () => {
      const m = await rsyslog.messages();
      return m.length >= n ? m : undefined;
    },
    { timeoutMs: 60_000, what: `${n} syslog messages` },
  );
}

/** The record a syslog message carries, as recordKey() names it (session.id and seq from its structured data). */
export function syslogKey(m: SyslogMessage): string {
  return recordKey(/session\.id="([^"]*)"/.exec(m.structured_data)?.[1], /seq="([^"]*)"/.exec(m.structured_data)?.[1]);
}

/**
 * Records the two SIEM routes of otelcol.yaml sent (high/critical through syslog/siem-urgent, the rest
 * through syslog/siem). The exporters count right after a send returns: the counts are read once they
 * add up to `total`, or after 10 s (and then the caller's comparison fails).
 */
export async function siemRouteCounts(metricsUrl: string, total: number): Promise<{ urgent: number; standard: number }> {
  const counts = async () => ({
    urgent: await scrapeCounter(metricsUrl, 'otelcol_exporter_sent_log_records_total', { exporter: 'syslog/siem-urgent' }),
    standard: await scrapeCounter(metricsUrl, 'otelcol_exporter_sent_log_records_total', { exporter: 'syslog/siem' }),
  });
  await waitFor(async () => {
    const c = await counts();
    return c.urgent + c.standard >= total;
  }, { timeoutMs: 10_000, what: 'syslog exporter counters' }).catch(() => undefined);
  return counts();
}
