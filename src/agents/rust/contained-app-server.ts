/**
 * How a Rust Open Interpreter session's `app-server` is spawned: inside the same bubblewrap sandbox as a classic
 * session (../sandbox/bwrap.ts: no capabilities, own PID/mount/IPC/UTS namespaces, a mount tree
 * built from an explicit list, oi-audit's key files, spool and sink masked), unless OI_AUDIT_SANDBOX=none.
 *
 * Visible inside: the system directories (read-only), the agent binary's install (read-only), the Node binary
 * that runs the PreToolUse hook (read-only), the work directory (read-write, HOME), the session's home
 * (CODEX_HOME, read-write: Codex writes its state there; Codex's own sandbox keeps commands from writing it) and
 * the hook socket's directory (read-only: the hook connects to the socket there; the token it needs is in
 * Codex's environment only, never in a file). Nothing else of the
 * host: a command that reads a key file by path finds nothing, and /proc shows only the sandbox's processes.
 *
 * Codex's own sandbox still runs inside ours. Measured with 0.148.0 as root: Codex's bwrap (`--unshare-user
 * --unshare-pid --unshare-net`) fails nested under `--cap-drop ALL` with "setting up uid map: Operation not
 * permitted" (since Linux 5.12 mapping uid 0 into a new user namespace needs CAP_SETFCAP). Giving ours a user
 * namespace of its own with a non-zero uid inside removes that need: Codex's bwrap then maps an ordinary uid,
 * and its Landlock/seccomp layer applies (measured: NoNewPrivs 1, Seccomp 2, CapEff 0, writes outside the
 * work directory refused). Our masks stay: mounts made before Codex's namespace are locked in it, and with no
 * capabilities in ours nothing can unmount them (measured: umount and `unshare -Urm` both refused).
 */
import { realpathSync, existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { containmentFromEnv } from '../../config/config.js';
import { ownSecretPaths } from '../sandbox/sensitive-paths.js';
import type { NetworkBridge } from '../sandbox/network-bridge.js';
import { INHERITED_ENV } from '../process/inherited-env.js';
import { assertBwrapWorks, BWRAP_BIN, bwrapArgs, isInside, probeBwrap, SandboxUnavailableError, type SandboxMode, type SandboxNetwork } from '../sandbox/bwrap.js';

export interface RustContainment {
  sandbox: SandboxMode;
  network: SandboxNetwork;
}

/** uid inside our sandbox's user namespace: the caller's, except root's (see the module comment). */
export const SANDBOX_UID_FOR_ROOT = 1000;

export function sandboxUid(): number {
  const uid = process.getuid?.() ?? 0;
  return uid === 0 ? SANDBOX_UID_FOR_ROOT : uid;
}

/** Code over OI_AUDIT_SANDBOX / OI_AUDIT_SANDBOX_NETWORK over the defaults (bwrap, shared). */
export function resolveRustContainment(opts: Partial<RustContainment> = {}): RustContainment {
  const c = containmentFromEnv({ ...(opts.sandbox ? { sandbox: opts.sandbox } : {}), ...(opts.network ? { sandboxNetwork: opts.network } : {}) });
  return { sandbox: c.sandbox, network: c.sandboxNetwork };
}

/** The directories an executable needs: its own, and for Codex's npm layout (`…/bin/codex`) the vendored siblings. */
function installDirs(bin: string): string[] {
  const real = realpathSync(bin);
  const dir = dirname(real);
  const dirs = [dir];
  if (basename(dir) === 'bin') {
    for (const sibling of ['codex-resources', 'codex-path', 'lib']) {
      const p = join(dirname(dir), sibling);
      if (existsSync(p)) dirs.push(p);
    }
  }
  return dirs;
}

const SYSTEM_PYTHON = ['/usr/bin/python3', '/bin/python3'];

const ALREADY_MOUNTED = ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/etc', '/opt'];

export interface ContainedAppServer {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  containment: RustContainment;
}

export function containedAppServer(p: {
  bin: string;
  args: string[];
  workDir: string;
  /** Session home (CODEX_HOME, read-write inside) and the hook socket's directory (read-only inside). */
  homeDir: string;
  socketDir: string;
  env: NodeJS.ProcessEnv;
  /** Variables of `env` the agent needs beyond the common allow-list (its home, proxy key, hook token). */
  keepEnv: string[];
  containment: Partial<RustContainment>;
  /** With network `none`: the Unix-socket bridge to the LLM proxy (openNetworkBridge with the proxy's port out). */
  bridge?: NetworkBridge;
  /** oi-audit's records (sink, spool), masked in addition to the key files named in the environment. */
  hide: string[];
}): ContainedAppServer {
  const containment = resolveRustContainment(p.containment);
  if (containment.sandbox === 'none') {
    if (containment.network === 'none') throw new SandboxUnavailableError('OI_AUDIT_SANDBOX_NETWORK=none needs OI_AUDIT_SANDBOX=bwrap (network isolation is a sandbox feature)');
    return { command: p.bin, args: p.args, env: p.env, containment };
  }
  // Network `none`: Codex reaches the audit LLM proxy through the classic network bridge, whose forwarder runs on
  // the system Python (the sandbox has no venv); the commands Codex runs get no network from Codex's own sandbox.
  const python = SYSTEM_PYTHON.find((c) => existsSync(c));
  if (containment.network === 'none' && !p.bridge) {
    throw new SandboxUnavailableError('OI_AUDIT_SANDBOX_NETWORK=none needs the network bridge (network-bridge.ts) for the LLM proxy');
  }
  if (containment.network === 'none' && !python) {
    throw new SandboxUnavailableError(`OI_AUDIT_SANDBOX_NETWORK=none for --agent rust needs a system Python for the network bridge (${SYSTEM_PYTHON.join(' or ')}); install python3 or use OI_AUDIT_SANDBOX_NETWORK=shared`);
  }
  assertBwrapWorks(containment.network);
  const uid = sandboxUid();
  const reason = probeBwrap(containment.network, uid);
  if (reason !== undefined) {
    throw new SandboxUnavailableError(
      `the Rust Open Interpreter sandbox cannot start: ${reason}. It needs user namespaces (bwrap --unshare-user); ` +
        'or set OI_AUDIT_SANDBOX=none to run the agent uncontained (its commands then see this host as oi-audit\'s user does).',
    );
  }
  const bridge = containment.network === 'none' ? p.bridge : undefined;
  const workspace = resolve(p.workDir);
  const roBinds = [...new Set([...installDirs(p.bin), ...installDirs(process.execPath)])].filter((d) => !ALREADY_MOUNTED.some((m) => isInside(d, m)));
  const plan = {
    workspace,
    network: containment.network,
    uid,
    // The socket's directory read-only: connecting needs no write access to the mount, and a command can then
    // neither remove the socket nor put a listener of its own there (which would receive the hook's token).
    roBinds: [...roBinds, resolve(p.socketDir), ...(bridge ? [bridge.outDir, bridge.scriptDir] : [])],
    rwBinds: [resolve(p.homeDir), ...(bridge ? [bridge.inDir] : [])],
    hide: ownSecretPaths(process.env, p.hide),
  };
  // An allow-listed environment, as for a classic session (what Codex needs: its home, the session's proxy key
  // and hook token, which its shell_environment_policy keeps from commands). The work directory is HOME.
  const env: NodeJS.ProcessEnv = {};
  for (const name of [...INHERITED_ENV, ...p.keepEnv]) if (p.env[name] !== undefined) env[name] = p.env[name];
  Object.assign(env, { HOME: workspace, TMPDIR: '/tmp' });
  // The forwarder forks off and execs the agent, which keeps its stdio (the app-server's JSON-RPC channel).
  const inner = bridge && python ? [...bridge.wrap(python), p.bin] : [p.bin];
  return { command: BWRAP_BIN, args: [...bwrapArgs(plan), ...inner, ...p.args], env, containment };
}
