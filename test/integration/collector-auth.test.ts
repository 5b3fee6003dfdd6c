/**
 * TLS and bearer-token authentication of otelcol.yaml's OTLP receiver, switched on with environment
 * variables only (OI_AUDIT_OTLP_TLS_ENABLED, OI_AUDIT_OTLP_AUTH_ENABLED, cert/key/token files).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import {
  OTELCOL_CONFIG,
  type CollectorHandle,
  freePorts,
  logsRequest,
  makeAuditRecords,
  startCollector,
  tempDir,
  otelcolEnv,
} from '../helpers/collector-stack.js';

function post(url: string, body: string, ca: Buffer, headers: Record<string, string>): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { method: 'POST', ca, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolvePromise(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('otelcol.yaml OTLP receiver with TLS and bearer-token auth from env', () => {
  let collector: CollectorHandle;
  let url: string;
  let ca: Buffer;
  const token = `tok-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  const body = JSON.stringify(logsRequest(makeAuditRecords(1, 3)));

  beforeAll(async () => {
    const dir = tempDir('auth');
    const tls = join(dir, 'tls');
    execFileSync('mkdir', ['-p', tls]);
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', join(tls, 'server.key'), '-out', join(tls, 'server.crt'),
    ], { stdio: 'ignore' });
    ca = readFileSync(join(tls, 'server.crt'));
    writeFileSync(join(dir, 'tokens'), `other-token\n${token}\n`, { mode: 0o600 });
    const [grpc, http, health, metrics, dead] = await freePorts(5);
    collector = await startCollector(
      OTELCOL_CONFIG,
      otelcolEnv({
        ports: { grpc: grpc!, http: http!, health: health!, metrics: metrics! },
        dataDir: join(dir, 'data'),
        tokenFile: join(dir, 'tokens'),
        archiveDir: join(dir, 'archive'),
        tempo: `127.0.0.1:${dead}`,
        loki: `http://127.0.0.1:${dead}`,
        siemPort: dead!,
        extra: {
          OI_AUDIT_OTLP_TLS_ENABLED: 'true',
          OI_AUDIT_OTLP_TLS_CERT_FILE: join(tls, 'server.crt'),
          OI_AUDIT_OTLP_TLS_KEY_FILE: join(tls, 'server.key'),
          OI_AUDIT_OTLP_AUTH_ENABLED: 'true',
        },
      }),
      { name: 'otelcol-auth', healthEndpoint: `127.0.0.1:${health}`, dirs: [dir] },
    );
    url = `https://127.0.0.1:${http}/v1/logs`;
  });

  afterAll(async () => {
    await collector?.stop();
  });

  it('accepts a request over TLS with a listed bearer token', async () => {
    expect(await post(url, body, ca, { authorization: `Bearer ${token}` })).toBe(200);
  });

  it('rejects a missing or wrong token with 401', async () => {
    expect(await post(url, body, ca, {})).toBe(401);
    expect(await post(url, body, ca, { authorization: 'Bearer not-a-token' })).toBe(401);
  });

  it('refuses plain HTTP on the TLS port', async () => {
    const res = await fetch(url.replace('https:', 'http:'), { method: 'POST', body, headers: { 'content-type': 'application/json' } }).then(
      (r) => r.status,
      () => 'connection error',
    );
    expect(res).not.toBe(200);
  });
});
