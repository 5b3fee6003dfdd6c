/**
 * The project-local Python virtualenv that holds Open Interpreter 0.4.3.
 *
 * `scripts/setup-openinterpreter.sh` does the installing (so operators can run it by hand and CI can cache it);
 * this module decides whether it needs to run, runs it, and turns a failure into an Error that says which step
 * failed and shows the last lines of output.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants as fsConstants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { access, readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '../../../package-root.js';

export interface OpenInterpreterInstall {
  /** `<venv>/bin/interpreter`, the CLI entry point (`interpreter --server`). */
  interpreterBin: string;
  /** `<venv>/bin/python`. */
  python: string;
  venvDir: string;
}

export interface EnsureOpenInterpreterOptions {
  /** Receives every line the setup script prints (its own `[setup-openinterpreter]` steps and pip's output). */
  onProgress?: (line: string) => void;
}

/** Must match STAMP_FILE in scripts/setup-openinterpreter.sh. */
const STAMP_FILE_NAME = '.oi-audit-lock.sha256';
const SETUP_STEP_PREFIX = '[setup-openinterpreter]';
const OUTPUT_LINES_KEPT_FOR_ERRORS = 25;

/**
 * Where the virtualenv lives (same rule as the setup script): `$OI_AUDIT_VENV`, else a shared per-user cache,
 * `$XDG_CACHE_HOME/oi-audit/venv-<first 16 hex of sha256(python/requirements.lock)>` (XDG_CACHE_HOME defaults to
 * ~/.cache). Not under node_modules: it is ~770 MB, shared by every project using the same lock, and
 * node_modules may be read-only.
 */
export function openInterpreterVenvDir(root: string = repoRoot()): string {
  const override = process.env['OI_AUDIT_VENV'];
  if (override) return resolve(override);
  const xdg = process.env['XDG_CACHE_HOME'];
  const cacheHome = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache');
  let lockHash = 'unknown';
  try {
    lockHash = createHash('sha256').update(readFileSync(join(root, 'python', 'requirements.lock'))).digest('hex').slice(0, 16);
  } catch {
    // isOpenInterpreterInstalled() reports the missing lock file with its path
  }
  return join(cacheHome, 'oi-audit', `venv-${lockHash}`);
}

export function installPaths(venvDir: string): OpenInterpreterInstall {
  return {
    interpreterBin: join(venvDir, 'bin', 'interpreter'),
    python: join(venvDir, 'bin', 'python'),
    venvDir,
  };
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function readTextOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** True when the venv was built from the current lock file and its entry points exist: nothing to do. */
export async function isOpenInterpreterInstalled(root: string = repoRoot()): Promise<boolean> {
  const install = installPaths(openInterpreterVenvDir(root));
  const lockPath = join(root, 'python', 'requirements.lock');
  const [lock, stamp] = await Promise.all([
    readFile(lockPath).catch((err: unknown) => {
      throw new Error(`cannot read the Open Interpreter lock file ${lockPath}: ${(err as Error).message}`, { cause: err });
    }),
    readTextOrUndefined(join(install.venvDir, STAMP_FILE_NAME)),
  ]);
  if (stamp === undefined || stamp.trim() !== createHash('sha256').update(lock).digest('hex')) return false;
  return (await isExecutable(install.interpreterBin)) && (await isExecutable(install.python));
}

// One install at a time per process: concurrent callers share the run (the script also takes a file lock,
// which covers other processes).
let installInFlight: Promise<OpenInterpreterInstall> | undefined;

/**
 * Makes sure Open Interpreter 0.4.3 is installed in the project virtualenv and returns its paths.
 * Runs `scripts/setup-openinterpreter.sh` only when the venv is missing or was built from another lock file
 * (a cold install takes a minute or two); otherwise returns at once.
 *
 * @throws Error naming the failed step and quoting the last lines of the script's output.
 */
export async function ensureOpenInterpreter(opts: EnsureOpenInterpreterOptions = {}): Promise<OpenInterpreterInstall> {
  const root = repoRoot();
  const install = installPaths(openInterpreterVenvDir(root));
  if (await isOpenInterpreterInstalled(root)) return install;
  installInFlight ??= runSetupScript(root, install, opts.onProgress).finally(() => {
    installInFlight = undefined;
  });
  return installInFlight;
}

function runSetupScript(
  root: string,
  install: OpenInterpreterInstall,
  onProgress: ((line: string) => void) | undefined,
): Promise<OpenInterpreterInstall> {
  const script = join(root, 'scripts', 'setup-openinterpreter.sh');
  const recentLines: string[] = [];
  let lastStep = 'starting the setup script';
  let scriptError: string | undefined;

  const remember = (line: string): void => {
    if (line.startsWith(SETUP_STEP_PREFIX)) {
      const text = line.slice(SETUP_STEP_PREFIX.length).trim();
      if (text.startsWith('ERROR:')) scriptError = text.slice('ERROR:'.length).trim();
      else lastStep = text;
    }
    recentLines.push(line);
    if (recentLines.length > OUTPUT_LINES_KEPT_FOR_ERRORS) recentLines.shift();
    onProgress?.(line);
  };

  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [script], {
      cwd: root,
      env: { ...process.env, OI_AUDIT_VENV: install.venvDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Both streams feed one ordered-enough log: pip writes progress to stdout and errors to stderr.
    const streamsClosed = [child.stdout, child.stderr].map(
      (stream) => new Promise<void>((done) => createInterface({ input: stream }).on('line', remember).on('close', done)),
    );
    const failure = (why: string): Error =>
      new Error(
        `Open Interpreter setup failed (${why}) at step "${lastStep}"${scriptError ? `: ${scriptError}` : ''}.\n` +
          `Script: ${script}; virtualenv: ${install.venvDir}. Last output:\n${recentLines.join('\n')}`,
      );

    child.on('error', (err) => reject(failure(`could not run bash: ${err.message}`)));
    child.on('close', (code, signal) => {
      void Promise.all(streamsClosed).then(async () => {
        if (code !== 0) {
          reject(failure(signal ? `killed by ${signal}` : `exit code ${String(code)}`));
        } else if (!(await isOpenInterpreterInstalled(root))) {
          reject(failure('script exited 0 but the venv stamp or entry points are missing'));
        } else {
          resolvePromise(install);
        }
      });
    });
  });
}
