import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { decodeLogsRequest } from './otlp-protobuf.js';

/**
 * A minimal OTLP/HTTP receiver (JSON or protobuf, optionally gzip) for tests of the app side of delivery (spool, retry): it answers
 * like a Collector (200 `{}`) and keeps every request body. The real Collector is exercised in
 * test/integration/collector-*.test.ts.
 */
export class OtlpReceiver {
  logs: any[] = [];
  traces: any[] = [];
  /** Content-Type and Content-Encoding of every request, in arrival order. */
  requests: Array<{ url: string; contentType: string; contentEncoding: string }> = [];
  private server: Server | undefined;

  static async start(port = 0): Promise<OtlpReceiver> {
    const r = new OtlpReceiver();
    await r.listen(port);
    return r;
  }

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(port: number): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const contentType = (req.headers['content-type'] ?? '');
        const contentEncoding = (req.headers['content-encoding'] ?? '');
        this.requests.push({ url: req.url ?? '', contentType, contentEncoding });
        let raw = Buffer.concat(chunks);
        if (contentEncoding === 'gzip') raw = gunzipSync(raw);
        const protobuf = contentType.startsWith('application/x-protobuf');
        if (req.url === '/v1/logs') this.logs.push(protobuf ? decodeLogsRequest(raw) : JSON.parse(raw.toString('utf8')));
        else if (req.url === '/v1/traces') this.traces.push(protobuf ? { bytes: raw.length } : JSON.parse(raw.toString('utf8')));
        // An empty ExportServiceResponse is an empty body in both encodings' sense; answer in the request's.
        if (protobuf) res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
        else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => { s.closeAllConnections(); s.close(() => resolve()); });
  }

  /** Audit bodies received, verbatim, in arrival order. */
  rawBodies(): string[] {
    return this.logs.flatMap((req) =>
      req.resourceLogs.flatMap((rl: any) => rl.scopeLogs.flatMap((sl: any) => sl.logRecords.map((r: any) => r.body.stringValue as string))),
    );
  }

  /** Audit bodies received, parsed, in arrival order. */
  bodies(): any[] {
    return this.rawBodies().map((b) => JSON.parse(b));
  }
}

/** A free loopback port (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
