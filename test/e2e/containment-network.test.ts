/**
 * `OI_AUDIT_SANDBOX_NETWORK=none` attacked from inside with the real Open Interpreter 0.4.3 (bwrap, strace):
 * generated code tries to reach a canary TCP listener on the host's 127.0.0.1, the upstream stand-in behind the
 * LLM proxy, a name server, and the host's interfaces; the session itself (LLM calls through the proxy, the LMC
 * WebSocket) still works through the Unix-socket bridge, and its trail verifies.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { approvalFor } from '../../src/approval/modes.js';
import { AuditedInterpreter } from '../../src/agents/classic/audited-interpreter.js';
import { startLlmProxy } from '../../src/llm-proxy/proxy.js';
import { startScriptedModel } from '../../src/demo/scripted-model.js';
import { createChainFactory, loadIntegrityKeys } from '../../src/integrity/chain.js';
import { AUDIT_EVENTS } from '../../src/semconv/events.js';
import { verifySessions } from '../../src/verify/verify.js';
import { inMemoryRecorder } from '../helpers/in-memory.js';

const SEED = Buffer.from('ae7ae7ae7ae7ae7ae7ae7ae7ae7ae7ae7ae7ae7ae7ae7ae7ae7ae7ae7ae7ae7ae', 'hex');
const KEYS = loadIntegrityKeys({ env: {}, macSeed: SEED });
const closers: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  while (closers.length) await closers.pop()!().catch(() => undefined);
});

const py = (lines: string[]) => '```python\n' + lines.join('\n') + '\n```\n';

function freePort(): Promise<number> {
  return new Promise((done, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => done(port));
    });
  });
}

describe('sandbox with its own network namespace (OI_AUDIT_SANDBOX_NETWORK=none)', () => {
  it('generated code reaches no host listener, no name server, no interface but lo; the session works and verifies', async () => {
    let canaryConnections = 0;
    const canary: Server = createServer((s) => {
      canaryConnections++;
      s.end('CANARY-REACHED\n');
    });
    await new Promise<void>((done) => canary.listen(0, '127.0.0.1', done));
    closers.push(() => new Promise((done) => canary.close(done)));
    const canaryPort = (canary.address() as { port: number }).port;

    const attack = (modelPort: number) =>
      py([
        'import socket',
        'out = []',
        `for name, port in (('canary', ${canaryPort}), ('upstream', ${modelPort})):`,
        '    try:',
        "        s = socket.create_connection(('127.0.0.1', port), timeout=3)",
        "        out.append('CONNECT %s OK %r' % (name, s.recv(100)))",
        '    except Exception as e:',
        "        out.append('CONNECT %s ERR %s' % (name, type(e).__name__))",
        'try:',
        "    out.append('RESOLVE OK %r' % (socket.getaddrinfo('example.com', 80),))",
        'except Exception as e:',
        "    out.append('RESOLVE ERR %s' % type(e).__name__)",
        "out.append('IFACES ' + ' '.join(l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:]))",
        "print('\\n'.join(out))",
      ]);
    // The upstream stand-in's port goes into the attack, so it is chosen first.
    const modelPort = await freePort();
    const turns = [
      { user: 'Check the network.', replies: ['Checking:\n\n' + attack(modelPort), 'Checked.'] },
      { user: 'Print hello.', replies: [py(["print('hello from a closed sandbox')"]), 'Printed.'] },
    ];
    const model = await startScriptedModel({ script: { turns }, port: modelPort });
    closers.push(() => model.close());

    const proxy = await startLlmProxy({ upstreamBaseUrl: model.url, upstreamApiKey: 'upstream-key-network', requestTimeoutMs: 30_000 });
    closers.push(() => proxy.close());
    const h = inMemoryRecorder({ config: { capture: 'full' }, chainFactory: createChainFactory(KEYS) });
    const approval = approvalFor('all');
    const interpreter = await AuditedInterpreter.start({
      recorder: h.recorder,
      proxy,
      userId: 'network-none',
      model: 'scripted',
      approve: approval.hook,
      policyName: approval.name,
      workDir: mkdtempSync(join(tmpdir(), 'oi-net-none-')),
      chunkTimeoutMs: 90_000,
      containment: { sandbox: 'bwrap', network: 'none', groundTruth: 'strace' },
    });
    closers.push(() => interpreter.close());
    expect((await interpreter.send(turns[0]!.user)).outcome).toBe('complete');
    expect((await interpreter.send(turns[1]!.user)).outcome).toBe('complete');
    await interpreter.close();

    const bodies = h.bodies();
    expect(bodies.find((b) => b.event === AUDIT_EVENTS.sessionStart)!.data.sandbox).toEqual({ mode: 'bwrap', network: 'none', ground_truth: 'strace' });
    const output = (turn: number) =>
      bodies
        .filter((b) => b.event === AUDIT_EVENTS.commandOutput && b.data.turn === turn)
        .map((b) => String(b.data.output?.text ?? ''))
        .join('');
    const attempts = output(0);
    expect(attempts).toContain('CONNECT canary ERR ConnectionRefusedError');
    expect(attempts).toContain('CONNECT upstream ERR ConnectionRefusedError');
    expect(attempts).toMatch(/RESOLVE ERR gaierror/);
    expect(attempts).toMatch(/IFACES lo\s*$/m);
    expect(attempts).not.toContain('CANARY-REACHED');
    expect(canaryConnections).toBe(0);
    expect(output(1)).toContain('hello from a closed sandbox');
    // The model was reached (through the bridge) for every reply of both turns.
    expect(model.served.length).toBeGreaterThanOrEqual(4);
    // The forwarder inside is part of the server, not code: it is not reported as a program the code ran.
    const execs = bodies.filter((b) => b.event === AUDIT_EVENTS.processExec);
    expect(execs.some((b) => JSON.stringify(b.data.argv).includes('forwarder.py'))).toBe(false);

    const records = h.logs.getFinishedLogRecords().map((r) => ({ body: typeof r.body === 'string' ? r.body : JSON.stringify(r.body), attributes: r.attributes }));
    const [report] = verifySessions(records, { macSeed: SEED, trustedPublicKeys: [KEYS.signing.publicKeyRaw] });
    expect(report!.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(report!.status).toBe('valid');
    expect(report!.complete).toBe(true);
  }, 240_000);
});
