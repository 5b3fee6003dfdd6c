/**
 * How the supervisor runs `interpreter --server`: inside bubblewrap (../../sandbox/bwrap.ts) unless containment is `none`,
 * under `strace -f` (ground-truth/) unless ground truth is `off`. The command is
 *
 *     strace <options> -o <private fifo> -- bwrap <namespaces, mounts> -- <venv>/bin/interpreter --server …
 *
 * strace runs outside the sandbox so its output never passes through anything the traced code can touch.
 * The environment is passed by `spawn` (bwrap keeps it): `bwrap --setenv` would put the per-session secrets on
 * bwrap's command line, where any local user reads them with `ps`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { containmentFromEnv } from '../../../config/config.js';
import { ownSecretPaths } from '../../sandbox/sensitive-paths.js';
import { ServerGroundTruth } from './ground-truth/server-ground-truth.js';
import { findStrace } from './ground-truth/strace-reader.js';
import { assertBwrapWorks, BWRAP_BIN, bwrapArgs, SandboxUnavailableError, type SandboxMode, type SandboxNetwork } from '../../sandbox/bwrap.js';
import { repoRoot } from '../../../package-root.js';
import type { NetworkBridge } from '../../sandbox/network-bridge.js';

export interface ContainmentOptions {
  /** Default: `OI_AUDIT_SANDBOX` or `bwrap`. */
  sandbox?: SandboxMode;
  /** Default: `OI_AUDIT_SANDBOX_NETWORK` or `shared`. */
  network?: SandboxNetwork;
  /** Default: `OI_AUDIT_GROUND_TRUTH` or `strace`. */
  groundTruth?: 'strace' | 'off';
  /** Extra host paths never to show inside the sandbox (sink, spool, key directories). */
  hide?: string[];
  /**
   * The workspace is the user's own directory (`oi-audit chat` in their cwd): the sandbox HOME (Open
   * Interpreter's config, shell dotfiles) is a separate temporary directory, so nothing of it lands there.
   */
  homeOutsideWorkspace?: boolean;
}

export interface ResolvedContainment {
  sandbox: SandboxMode;
  network: SandboxNetwork;
  groundTruth: 'strace' | 'off';
}

export function resolveContainment(opts: ContainmentOptions = {}): ResolvedContainment {
  const c = containmentFromEnv({
    ...(opts.sandbox ? { sandbox: opts.sandbox } : {}),
    ...(opts.network ? { sandboxNetwork: opts.network } : {}),
    ...(opts.groundTruth ? { groundTruth: opts.groundTruth } : {}),
  });
  return { sandbox: c.sandbox, network: c.sandboxNetwork, groundTruth: c.groundTruth };
}

export interface ContainedCommand {
  command: string;
  args: string[];
  /** Host directory the process starts in. */
  cwd: string;
  containment: ResolvedContainment;
  /** Sandbox working directory (same path inside and out). */
  workspace: string;
  /** Sandbox HOME: the workspace, or its own directory with `homeOutsideWorkspace`. */
  home: string;
  groundTruth: ServerGroundTruth | undefined;
  /** Removes what this module created (FIFO, a workspace it made). */
  cleanup(): void;
}

/** Missing bwrap or strace: install them with scripts/setup-sandbox.sh when we are root, like the venv. */
export function ensureSandboxTools(c: ResolvedContainment): void {
  const needBwrap = c.sandbox === 'bwrap' && !existsSync(BWRAP_BIN);
  const needStrace = c.groundTruth === 'strace' && !findStrace();
  if (!needBwrap && !needStrace) return;
  if (process.getuid?.() !== 0) return; // the checks below say what to install
  const script = join(repoRoot(), 'scripts', 'setup-sandbox.sh');
  spawnSync('bash', [script], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 });
}

export function containedCommand(p: {
  interpreterBin: string;
  args: string[];
  venvDir: string;
  /** Caller's working directory for the code; becomes the workspace under bwrap. */
  workDir: string | undefined;
  /** Where the server runs when uncontained (its config dir). */
  uncontainedCwd: string;
  containment: ContainmentOptions;
  /**
   * Runtime directories of the server (e.g. its IPYTHONDIR): bound read-write into the sandbox at the same path,
   * and what is written there is the runtime's housekeeping, not the code's doing.
   */
  runtimeDirs?: string[];
  /** With network `none`: the Unix-socket bridge for the LLM proxy and the LMC port (openNetworkBridge). */
  bridge?: NetworkBridge;
}): ContainedCommand {
  const c = resolveContainment(p.containment);
  ensureSandboxTools(c);
  if (c.network === 'none' && c.sandbox !== 'bwrap') {
    throw new SandboxUnavailableError('OI_AUDIT_SANDBOX_NETWORK=none needs OI_AUDIT_SANDBOX=bwrap (network isolation is a sandbox feature)');
  }
  if (c.network === 'none' && !p.bridge) {
    throw new SandboxUnavailableError('OI_AUDIT_SANDBOX_NETWORK=none needs the network bridge (network-bridge.ts) for the LLM proxy and the LMC port');
  }
  if (c.sandbox === 'bwrap') assertBwrapWorks(c.network);
  const strace = c.groundTruth === 'strace' ? findStrace() : undefined;
  if (c.groundTruth === 'strace' && !strace) {
    throw new SandboxUnavailableError(
      'execution ground truth needs strace, which is not installed: install it (as root: scripts/setup-sandbox.sh, ' +
        'or apt-get install strace), or set OI_AUDIT_GROUND_TRUTH=off to run without recording what code really ran.',
    );
  }

  let madeWorkspace = false;
  let madeHome: string | undefined;
  let workspace: string;
  let home: string;
  if (c.sandbox === 'bwrap') {
    if (p.workDir) workspace = resolve(p.workDir);
    else {
      workspace = mkdtempSync(join(tmpdir(), 'oi-audit-workspace-'));
      madeWorkspace = true;
    }
    home = workspace;
    if (p.containment.homeOutsideWorkspace && p.workDir) home = madeHome = mkdtempSync(join(tmpdir(), 'oi-audit-home-'));
    mkdirSync(join(home, '.config'), { recursive: true });
  } else {
    workspace = resolve(p.workDir ?? p.uncontainedCwd);
    home = workspace;
  }
  const ownSecrets = ownSecretPaths(process.env, [...(p.containment.hide ?? [])]);

  let command = p.interpreterBin;
  let args = [...p.args];
  if (c.sandbox === 'bwrap') {
    const bridge = c.network === 'none' ? p.bridge : undefined;
    const plan = {
      workspace,
      venvDir: resolve(p.venvDir),
      network: c.network,
      hide: ownSecrets,
      rwBinds: [...(p.runtimeDirs ?? []), ...(bridge ? [bridge.inDir] : []), ...(madeHome ? [madeHome] : [])],
      roBinds: bridge ? [bridge.outDir, bridge.scriptDir] : [],
    };
    // The forwarder inside forks off and execs the server, so the server keeps its argv (and `--server`).
    const inner = bridge ? [...bridge.wrap(join(resolve(p.venvDir), 'bin', 'python')), command] : [command];
    args = [...bwrapArgs(plan), ...inner, ...args];
    command = BWRAP_BIN;
  }
  let groundTruth: ServerGroundTruth | undefined;
  if (strace) {
    groundTruth = new ServerGroundTruth({
      initialCwd: workspace,
      workspace,
      ...(home !== workspace ? { home } : {}),
      ownSecrets,
      runtimeDirs: p.runtimeDirs ?? [],
      isServerExec: (argv) => argv.includes('--server'),
    });
    args = [...groundTruth.straceArgs(), command, ...args];
    command = strace;
  }
  return {
    command,
    args,
    cwd: workspace,
    containment: c,
    workspace,
    home,
    groundTruth,
    cleanup: () => {
      groundTruth?.close();
      if (madeWorkspace) rmSync(workspace, { recursive: true, force: true });
      if (madeHome) rmSync(madeHome, { recursive: true, force: true });
    },
  };
}
