import { spawnSync } from 'node:child_process';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loopbackPort, openNetworkBridge, type NetworkBridge } from '../../src/agents/sandbox/network-bridge.js';
import { KERNEL_DRAIN_SOURCE } from '../../src/agents/classic/process/kernel-drain.js';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (closers.length) await closers.pop()!();
});

function echoServer(): Promise<{ server: Server; port: number }> {
  return new Promise((done) => {
    const server = createServer((s) => s.pipe(s));
    server.listen(0, '127.0.0.1', () => done({ server, port: (server.address() as { port: number }).port }));
  });
}

function roundTrip(where: { path: string } | { port: number; host: string }, text: string): Promise<string> {
  return new Promise((done, reject) => {
    const s = connect(where, () => s.end(text));
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('end', () => done(got));
    s.on('error', reject);
  });
}

describe('network bridge (OI_AUDIT_SANDBOX_NETWORK=none)', () => {
  it('bridges only loopback URLs', () => {
    expect(loopbackPort('http://127.0.0.1:8080/v1')).toBe(8080);
    expect(loopbackPort('http://localhost:9/x')).toBe(9);
    expect(() => loopbackPort('http://example.com:8080/v1')).toThrow(/only loopback/);
    expect(() => loopbackPort('http://10.0.0.1:8080/v1')).toThrow(/only loopback/);
  });

  it('relays a host port to its socket in out/, and removes its directory on close', async () => {
    const { server, port } = await echoServer();
    closers.push(() => new Promise((done) => server.close(done)));
    const bridge: NetworkBridge = await openNetworkBridge({ outPorts: [port], inPorts: [] });
    const path = join(bridge.outDir, `${port}.sock`);
    expect(await roundTrip({ path }, 'through the bridge')).toBe('through the bridge');
    expect(bridge.wrap('/venv/bin/python')).toEqual(['/venv/bin/python', join(bridge.scriptDir, 'forwarder.py'), join(bridge.scriptDir, 'spec.json')]);
    await bridge.close();
    await expect(roundTrip({ path }, 'x')).rejects.toThrow(/ENOENT|ECONNREFUSED/);
  });
});

describe('kernel drain hook', () => {
  it('is valid Python that registers a post_execute hook', () => {
    const r = spawnSync('python3', ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], { input: KERNEL_DRAIN_SOURCE, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(KERNEL_DRAIN_SOURCE).toContain("events.register('post_execute', drain)");
  });
});
