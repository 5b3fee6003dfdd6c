import { createNoopMeter, type MeterProvider } from '@opentelemetry/api';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { ExportResultCode } from '@opentelemetry/core';
import { ConfigError } from '../config/config.js';

export type OtlpSignal = 'traces' | 'logs' | 'metrics';
/** The OTLP/HTTP encodings (OTEL_EXPORTER_OTLP_PROTOCOL); `grpc` is refused with a clear error. */
export type OtlpProtocol = 'http/protobuf' | 'http/json';
export const OTLP_PROTOCOLS: readonly OtlpProtocol[] = ['http/protobuf', 'http/json'];

/** A serialised OTLP export request and its encoding: what is sent, spooled and replayed. */
export interface OtlpRequest {
  body: Uint8Array;
  encoding: 'protobuf' | 'json';
}

type Env = Record<string, string | undefined>;

const SIGNAL_ENV = { traces: 'TRACES', logs: 'LOGS', metrics: 'METRICS' } as const;

/** `OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`, else `http/protobuf` (the spec default). */
export function otlpProtocol(signal: OtlpSignal, env: Env = process.env): OtlpProtocol {
  const specific = `OTEL_EXPORTER_OTLP_${SIGNAL_ENV[signal]}_PROTOCOL`;
  const name = env[specific]?.trim() ? specific : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const value = env[name]?.trim().toLowerCase() || 'http/protobuf';
  if ((OTLP_PROTOCOLS as readonly string[]).includes(value)) return value as OtlpProtocol;
  throw new ConfigError(`${name}: oi-audit exports over OTLP/HTTP only (${OTLP_PROTOCOLS.join(' or ')}), got "${env[name]}"`);
}

export const encodingOf = (protocol: OtlpProtocol): OtlpRequest['encoding'] => (protocol === 'http/json' ? 'json' : 'protobuf');

const CONTENT_TYPES: Record<OtlpRequest['encoding'], string> = { protobuf: 'application/x-protobuf', json: 'application/json' };

export interface OtlpSenderOptions {
  signal: OtlpSignal;
  /** Base URL given in code (`/v1/<signal>` is appended); overrides every OTEL_EXPORTER_OTLP_*ENDPOINT. */
  endpoint?: string | undefined;
  /** Headers given in code, over OTEL_EXPORTER_OTLP_(<SIGNAL>_)HEADERS. */
  headers?: Record<string, string> | undefined;
  /** Export timeout given in code; else OTEL_EXPORTER_OTLP_(<SIGNAL>_)TIMEOUT, else the SDK's default. */
  timeoutMillis?: number | undefined;
}

/** The request is already serialised (it may come from the spool): the SDK's delegate sends it as is. */
const passThrough = {
  serializeRequest: (request: Uint8Array) => request,
  deserializeResponse: () => ({}),
};
const countNothing = { name: 'log' as const, countItems: () => 0 };
// The SDK's exporter self-metrics would otherwise go to the global (the app's) meter provider.
const noMeterProvider: MeterProvider = { getMeter: () => createNoopMeter() };

/**
 * The one OTLP/HTTP sending path for normal exports and spool replay: the SDK's own HTTP export delegate
 * (the one OTLPLogExporter and OTLPTraceExporter use), so the URL rules, headers, `gzip` compression, TLS
 * (`OTEL_EXPORTER_OTLP_(<SIGNAL>_)CERTIFICATE`, `…CLIENT_KEY`, `…CLIENT_CERTIFICATE`), timeouts and retries
 * on 429/502/503/504 are the SDK's. It is fed serialised requests rather than records because a spooled
 * request must go out byte for byte as it was written; one delegate per encoding, since a spool written
 * under one protocol may be replayed by a process configured with the other.
 */
export class OtlpSender {
  private readonly delegates = new Map<OtlpRequest['encoding'], OTLPExporterBase<Uint8Array>>();
  readonly url: string;

  constructor(private readonly options: OtlpSenderOptions) {
    this.url = this.delegate('protobuf').url;
  }

  private delegate(encoding: OtlpRequest['encoding']): OTLPExporterBase<Uint8Array> & { url: string } {
    const existing = this.delegates.get(encoding) as (OTLPExporterBase<Uint8Array> & { url: string }) | undefined;
    if (existing) return existing;
    const { signal, endpoint, headers, timeoutMillis } = this.options;
    const path = `v1/${signal}`;
    // The public way to build HTTP exporter options from url/headers/timeout; its replacement is not exported yet.
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    const config = convertLegacyHttpOptions(
      {
        ...(endpoint ? { url: `${endpoint.replace(/\/+$/, '')}/${path}` } : {}),
        ...(headers ? { headers } : {}),
        ...(timeoutMillis !== undefined ? { timeoutMillis } : {}),
      },
      SIGNAL_ENV[signal],
      path,
      { 'Content-Type': CONTENT_TYPES[encoding] },
    );
    const delegate = createOtlpHttpExportDelegate(config, passThrough, `oi_audit_otlp_${signal}_sender`, countNothing, noMeterProvider);
    const exporter = Object.assign(new OTLPExporterBase<Uint8Array>(delegate), { url: config.url });
    this.delegates.set(encoding, exporter);
    return exporter;
  }

  /** Resolves once the Collector accepted the request (2xx); rejects with the SDK's error otherwise. */
  send(request: OtlpRequest): Promise<void> {
    return new Promise((resolve, reject) => {
      this.delegate(request.encoding).export(request.body, (result) =>
        result.code === ExportResultCode.SUCCESS ? resolve() : reject(result.error ?? new Error(`OTLP export to ${this.url} failed`)),
      );
    });
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.delegates.values()].map((d) => d.shutdown()));
  }
}
