import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Listen on an ephemeral 127.0.0.1 port and register the server's teardown (close, and drop kept-alive
 * connections so close resolves) with the test's cleanups. Returns `http://127.0.0.1:<port>`.
 */
export async function listenLoopback(server: Server, cleanups: Array<() => unknown>): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
