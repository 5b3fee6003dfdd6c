/**
 * The only ways in and out of a sandbox that has its own network namespace (`OI_AUDIT_SANDBOX_NETWORK=none`):
 * Unix sockets in a per-session directory bound into the sandbox, one per TCP port that must cross.
 *
 * Inside, the namespace has nothing but its own loopback: generated code cannot reach any host listener (the
 * upstream LLM, the Collector, other sessions' servers, anything on 127.0.0.1), any abstract Unix socket of
 * the host, or the outside world. Two paths are bridged, each to exactly one port:
 *
 * - `out`: TCP ports of the host that the interpreter must reach (the audit LLM proxy). A forwarder inside
 *   listens on the same port of the sandbox's loopback and relays each connection to `out/<port>.sock`, where
 *   this process listens and connects to 127.0.0.1:<port> of the host. The directory is bound read-only, so
 *   code cannot replace those sockets.
 * - `in`: the server's LMC port. The forwarder inside listens on `in/<port>.sock` and relays to 127.0.0.1:<port>
 *   of the sandbox, where `interpreter --server` listens; this process listens on the same port of the host's
 *   loopback and relays there. (Code inside could kill the server and listen there itself, as it can with a
 *   shared network; the LMC key it would then need is the server's, in the server's environment.)
 *
 * Why a forwarder of our own and not socat: nothing to install, ~60 lines, and inside it is the venv's Python
 * (always mounted); it forks off before exec-ing the server, so the server keeps its pid and argv.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NetworkBridge {
  /** Host directory whose sockets this process listens on (bind read-only into the sandbox). */
  outDir: string;
  /** Host directory where the forwarder inside creates its sockets (bind read-write into the sandbox). */
  inDir: string;
  /** The forwarder script and its spec (bind read-only). */
  scriptDir: string;
  /** argv prefix inside the sandbox: `<python> <forwarder> <spec> ` — append the server's command and args. */
  wrap(python: string): string[];
  close(): Promise<void>;
}

const FORWARDER_SOURCE = String.raw`# oi-audit network bridge, inside the sandbox (src/agents/sandbox/network-bridge.ts).
# argv: spec.json command args...  Forks a forwarder, then execs the command (which keeps this pid).
import json, os, signal, socket, sys, threading

spec = json.load(open(sys.argv[1]))
command = sys.argv[2:]

def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass

def relay(client, make_upstream):
    try:
        upstream = make_upstream()
    except OSError:
        client.close()
        return
    a = threading.Thread(target=pump, args=(client, upstream), daemon=True)
    b = threading.Thread(target=pump, args=(upstream, client), daemon=True)
    a.start(); b.start(); a.join(); b.join()
    client.close(); upstream.close()

def serve(listener, make_upstream):
    while True:
        client, _ = listener.accept()
        threading.Thread(target=relay, args=(client, make_upstream), daemon=True).start()

def unix_to(path):
    def make():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        return s
    return make

def tcp_to(port):
    return lambda: socket.create_connection(('127.0.0.1', port))

listeners = []
for port in spec['out']:
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(('127.0.0.1', port)); l.listen(64)
    listeners.append((l, unix_to(os.path.join(spec['outDir'], '%d.sock' % port))))
for port in spec['in']:
    path = os.path.join(spec['inDir'], '%d.sock' % port)
    if os.path.exists(path):
        os.unlink(path)
    l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    l.bind(path); l.listen(64)
    listeners.append((l, tcp_to(port)))

if os.fork() == 0:
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: end with the server
    except Exception:
        pass
    for l, make in listeners:
        threading.Thread(target=serve, args=(l, make), daemon=True).start()
    threading.Event().wait()
    os._exit(0)
for l, _ in listeners:
    l.close()
os.execv(command[0], command)
`;

/**
 * Opens the host side: a Unix listener per `outPorts` port (relaying to 127.0.0.1:<port>) and a TCP listener on
 * 127.0.0.1:<port> per `inPorts` port (relaying to the forwarder's socket).
 */
export async function openNetworkBridge(p: { outPorts: number[]; inPorts: number[] }): Promise<NetworkBridge> {
  const root = mkdtempSync(join(tmpdir(), 'oi-audit-net-'));
  const outDir = join(root, 'out');
  const inDir = join(root, 'in');
  const scriptDir = join(root, 'fwd');
  await Promise.all([outDir, inDir, scriptDir].map((d) => mkdir(d, { mode: 0o700 })));
  const script = join(scriptDir, 'forwarder.py');
  const specPath = join(scriptDir, 'spec.json');
  writeFileSync(script, FORWARDER_SOURCE, { mode: 0o600 });
  writeFileSync(specPath, JSON.stringify({ out: p.outPorts, in: p.inPorts, outDir, inDir }), { mode: 0o600 });

  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  // Half-open on both sides: a peer that ends its writing still gets the answer (pipe() passes each end on).
  const relay = (client: Socket, upstream: Socket): void => {
    sockets.add(client);
    sockets.add(upstream);
    const fail = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', fail).on('close', () => sockets.delete(client));
    upstream.on('error', fail).on('close', () => sockets.delete(upstream));
    client.pipe(upstream);
    upstream.pipe(client);
  };
  try {
    for (const port of p.outPorts) {
      const server = createServer({ allowHalfOpen: true }, (client) => relay(client, connect({ host: '127.0.0.1', port, allowHalfOpen: true })));
      await listen(server, { path: join(outDir, `${port}.sock`) });
      servers.push(server);
    }
    for (const port of p.inPorts) {
      const server = createServer({ allowHalfOpen: true }, (client) => relay(client, connect({ path: join(inDir, `${port}.sock`), allowHalfOpen: true })));
      await listen(server, { host: '127.0.0.1', port });
      servers.push(server);
    }
  } catch (err) {
    for (const s of servers) s.close();
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  return {
    outDir,
    inDir,
    scriptDir,
    wrap: (python) => [python, script, specPath],
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((done) => s.close(() => done()))));
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function listen(server: Server, where: { path: string } | { host: string; port: number }): Promise<void> {
  return new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(where, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
}

/** The loopback port of an `http://127.0.0.1:P/...` URL; anything else cannot be bridged. */
export function loopbackPort(url: string): number {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) {
    throw new Error(`OI_AUDIT_SANDBOX_NETWORK=none bridges only loopback addresses; ${u.host} is not one`);
  }
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no port in ${url}`);
  return port;
}
