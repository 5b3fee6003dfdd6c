/**
 * Containment of one session's Open Interpreter server (and so of its Jupyter kernel, shells and every child)
 * in a bubblewrap sandbox (Debian's `bubblewrap`, /usr/bin/bwrap).
 *
 * Why bubblewrap: it is a small, kept, unprivileged-capable tool built for exactly this (Flatpak uses it), it
 * needs no daemon and no image, and it gives namespaces + a mount tree built from an explicit list, which is
 * the property we need: nothing of the host is visible unless it is named here.
 *
 * The sandbox has no capabilities (even when oi-audit runs as root), its own PID, mount, IPC and UTS namespaces (so no view of host processes, of oi-audit's
 * /proc/<pid>/environ, or of other sessions), a fresh /proc, a minimal /dev, a tmpfs /tmp, the system
 * directories, the Python install and the venv read-only, and one read-write directory: the session workspace,
 * which is HOME. The environment is the allow-listed one the supervisor spawns bwrap with. Network: shared
 * with the host unless `network: 'none'`, which unshares it (see network-bridge.ts for how the LLM proxy and
 * the LMC port are then reached).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';

export type SandboxMode = 'bwrap' | 'none';
export type SandboxNetwork = 'shared' | 'none';
export const SANDBOX_MODES: readonly SandboxMode[] = ['bwrap', 'none'];
export const SANDBOX_NETWORKS: readonly SandboxNetwork[] = ['shared', 'none'];

export const BWRAP_BIN = '/usr/bin/bwrap';

export class SandboxUnavailableError extends Error {
  override name = 'SandboxUnavailableError';
}

export interface BwrapPlan {
  /** Host directory mounted read-write as the sandbox HOME (same path inside). */
  workspace: string;
  /** Virtualenv holding Open Interpreter (read-only, same path inside, with its Python install). None for the Rust agent. */
  venvDir?: string;
  network: SandboxNetwork;
  /** Working directory inside. Default: the workspace. */
  chdir?: string;
  /** Extra read-write binds (host path → same path inside), e.g. a per-session socket directory. */
  rwBinds?: string[];
  /** Extra read-only binds (host path → same path inside), e.g. the forwarder script. */
  roBinds?: string[];
  /**
   * Paths that must not be visible even if they lie under something mounted (key files, spool, sink,
   * other workspaces): directories are covered with an empty tmpfs, files with /dev/null.
   */
  hide?: string[];
  /**
   * Run inside a user namespace of its own as this uid/gid (mapped to the caller's). Needed when the sandboxed
   * program builds a sandbox of its own (Codex's bwrap): see src/agents/rust/contained-app-server.ts.
   */
  uid?: number;
}

/** Top-level system directories: symlinks (merged /usr) are recreated as symlinks, directories bound read-only. */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/etc', '/opt'];
/** Files under /etc nobody in the sandbox needs and that hold host secrets. */
const ETC_MASKED = ['/etc/shadow', '/etc/gshadow', '/etc/shadow-', '/etc/gshadow-', '/etc/sudoers', '/etc/ssh', '/etc/ssl/private', '/etc/oi-audit'];

/** bwrap's argv (without the bwrap binary itself) that ends with `--`: append the command to run. */
export function bwrapArgs(plan: BwrapPlan): string[] {
  // --cap-drop ALL: run by root, bwrap otherwise leaves the sandbox every capability (measured: CapEff
  // 000001fffeffffff), so code could mknod the host's disk and mount it, unmount the masks below, or
  // reconfigure the host's network; with it (and bwrap's no_new_privs and securebits) no exec regains any.
  const args = ['--cap-drop', 'ALL', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--die-with-parent', '--new-session'];
  if (plan.network === 'none') args.push('--unshare-net');
  if (plan.uid !== undefined) args.push('--unshare-user', '--uid', String(plan.uid), '--gid', String(plan.uid));
  args.push('--hostname', 'oi-sandbox');
  const mounted: string[] = [];
  for (const dir of SYSTEM_DIRS) {
    let st;
    try {
      st = lstatSync(dir);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(dir), dir);
    else if (st.isDirectory()) {
      args.push('--ro-bind', dir, dir);
      mounted.push(dir);
    }
  }
  // The venv's interpreter is a symlink into a Python install that may live anywhere (pyenv under /root…):
  // bind that install, not its parents.
  if (plan.venvDir) {
    for (const dir of pythonInstallDirs(plan.venvDir)) {
      if (!mounted.some((m) => isInside(dir, m))) {
        args.push('--ro-bind', dir, dir);
        mounted.push(dir);
      }
    }
    args.push('--ro-bind', plan.venvDir, plan.venvDir);
    mounted.push(plan.venvDir);
  }
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--tmpfs', '/var/tmp', '--tmpfs', '/run');
  for (const dir of plan.roBinds ?? []) args.push('--ro-bind', dir, dir);
  args.push('--bind', plan.workspace, plan.workspace);
  for (const dir of plan.rwBinds ?? []) args.push('--bind', dir, dir);
  const all = [...mounted, ...(plan.roBinds ?? []), plan.workspace, ...(plan.rwBinds ?? [])];
  for (const path of [...ETC_MASKED, ...(plan.hide ?? [])]) {
    const abs = resolve(path);
    if (!all.some((m) => isInside(abs, m))) continue; // not reachable anyway
    if (abs === plan.workspace || plan.venvDir === abs) continue;
    let st;
    try {
      st = statSync(abs);
    } catch {
      continue;
    }
    if (st.isDirectory()) args.push('--tmpfs', abs);
    else args.push('--ro-bind', '/dev/null', abs);
  }
  // No --clearenv/--setenv: the supervisor spawns bwrap with exactly the sandbox's environment (built from an
  // allow-list), and --setenv would put its values on bwrap's command line for any local user's `ps` to read.
  args.push('--chdir', plan.chdir ?? plan.workspace, '--');
  return args;
}

/** `path` equals `root` or lies below it. */
export function isInside(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** The prefix of the Python install the venv was made from (`home = …/bin` in pyvenv.cfg, and its real path). */
function pythonInstallDirs(venvDir: string): string[] {
  const dirs = new Set<string>();
  try {
    const cfg = readFileSync(join(venvDir, 'pyvenv.cfg'), 'utf8');
    const home = /^home\s*=\s*(.+)$/m.exec(cfg)?.[1]?.trim();
    if (home && isAbsolute(home)) dirs.add(dirname(home));
  } catch {
    // not a venv made by `python -m venv`: the symlink target below still covers it
  }
  for (const name of ['python', 'python3']) {
    try {
      const real = resolveRealPath(join(venvDir, 'bin', name));
      if (real) dirs.add(dirname(dirname(real)));
    } catch {
      // no such entry point
    }
  }
  return [...dirs].filter((d) => d !== '/' && existsSync(d));
}

function resolveRealPath(path: string): string | undefined {
  const result = spawnSync('readlink', ['-f', path], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/**
 * Whether bwrap can build a sandbox here with the namespaces we ask for. Returns undefined when it can, or the
 * reason it cannot (missing binary, no user namespaces for a non-root user, seccomp/AppArmor refusal…).
 */
export function probeBwrap(network: SandboxNetwork = 'shared', uid?: number): string | undefined {
  if (!existsSync(BWRAP_BIN)) return `${BWRAP_BIN} is not installed (Debian package "bubblewrap")`;
  const args = ['--cap-drop', 'ALL', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--die-with-parent'];
  if (network === 'none') args.push('--unshare-net');
  if (uid !== undefined) args.push('--unshare-user', '--uid', String(uid), '--gid', String(uid));
  args.push('--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', '--', '/bin/true');
  const result = spawnSync(BWRAP_BIN, args, { encoding: 'utf8', timeout: 15_000 });
  if (result.error) return `${BWRAP_BIN} could not run: ${result.error.message}`;
  if (result.status !== 0) return `${BWRAP_BIN} failed (exit ${String(result.status)}): ${result.stderr.trim().slice(0, 300)}`;
  return undefined;
}

let probed: Map<SandboxNetwork, string | undefined> | undefined;

/**
 * Fails closed: throws SandboxUnavailableError with what to do when bwrap cannot start. Cached per process
 * (a probe is a fork and two execs).
 */
export function assertBwrapWorks(network: SandboxNetwork): void {
  probed ??= new Map();
  if (!probed.has(network)) probed.set(network, probeBwrap(network));
  const reason = probed.get(network);
  if (reason !== undefined) {
    probed.delete(network); // maybe it gets installed: try again next time
    throw new SandboxUnavailableError(
      `the Open Interpreter sandbox cannot start: ${reason}. Install bubblewrap (as root: ` +
        `scripts/setup-sandbox.sh, or apt-get install bubblewrap strace), or set OI_AUDIT_SANDBOX=none to run ` +
        `Open Interpreter uncontained (generated code then sees this host as oi-audit's user does).`,
    );
  }
}
