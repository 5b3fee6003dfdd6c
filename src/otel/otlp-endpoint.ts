/** OTLP/HTTP URL and headers for one signal, resolved as the OTLP exporters resolve them (spec order). */
export interface OtlpTarget {
  url: string;
  headers: Record<string, string>;
}

function parseHeaders(value: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const pair of (value ?? '').split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    headers[decodeURIComponent(pair.slice(0, eq).trim())] = decodeURIComponent(pair.slice(eq + 1).trim());
  }
  return headers;
}

export function otlpTarget(
  signal: 'traces' | 'logs',
  options: { endpoint?: string | undefined; headers?: Record<string, string> | undefined },
  env: NodeJS.ProcessEnv,
): OtlpTarget {
  const specific = signal === 'traces' ? env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT : env.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT;
  const base = (options.endpoint ?? env.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318').replace(/\/+$/, '');
  const url = options.endpoint ? `${base}/v1/${signal}` : specific || `${base}/v1/${signal}`;
  const specificHeaders = signal === 'traces' ? env.OTEL_EXPORTER_OTLP_TRACES_HEADERS : env.OTEL_EXPORTER_OTLP_LOGS_HEADERS;
  return { url, headers: { ...parseHeaders(env.OTEL_EXPORTER_OTLP_HEADERS), ...parseHeaders(specificHeaders), ...options.headers } };
}

/** POST a serialised OTLP JSON request; rejects unless the Collector answers 2xx. */
export async function postOtlp(target: OtlpTarget, body: Uint8Array, timeoutMs = 10_000): Promise<void> {
  const response = await fetch(target.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...target.headers },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  await response.arrayBuffer();
  if (!response.ok) throw new Error(`Collector answered ${response.status} for ${target.url}`);
}
