/** Starting a loopback HTTP server (the LLM proxy, the scripted model): listen, and the URL host part. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Listen on `host`:`port` (0: a free port). Resolves with the port bound and the host as a URL writes
 * it (IPv6 in brackets); rejects when the server cannot listen (the port is taken, the host unknown).
 */
export async function listenOn(server: Server, port: number, host: string): Promise<{ port: number; urlHost: string }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { port: (server.address() as AddressInfo).port, urlHost: host.includes(':') ? `[${host}]` : host };
}
