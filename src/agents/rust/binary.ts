/**
 * Which binary drives a `--agent rust` session: `OI_AUDIT_RUST_INTERPRETER_BIN` (a Rust Open Interpreter
 * `interpreter` or a `codex` binary), else Codex 0.148.0 — the Rust Open Interpreter's code base — installed
 * from npm by `scripts/setup-codex.sh` into a cache on first use.
 */
import { execFile, spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '../../package-root.js';

export const PINNED_CODEX_VERSION = '0.148.0';
export const RUST_INTERPRETER_BIN_ENV = 'OI_AUDIT_RUST_INTERPRETER_BIN';

/** `codex`: OpenAI's Codex CLI; `interpreter`: the Rust Open Interpreter (its fork, home INTERPRETER_HOME). */
export type RustAgentKind = 'codex' | 'interpreter';

export interface RustAgentBinary {
  path: string;
  kind: RustAgentKind;
  /** As the binary reports it (`codex-cli 0.148.0` → `0.148.0`). */
  version: string;
  /** Where the path came from. */
  source: 'env' | 'pinned';
}

export interface EnsureRustAgentOptions {
  onProgress?: (line: string) => void;
}

const SETUP_TAG = '[setup-codex]';
const LINES_KEPT = 25;

function runVersion(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(path, ['--version'], { timeout: 15_000, maxBuffer: 64 * 1024 }, (error, stdout) => {
      if (error) reject(new Error(`${path} --version failed: ${error.message}`));
      else resolve(stdout.trim().split('\n')[0] ?? '');
    });
  });
}

/**
 * Kind and version from `--version`: Codex prints `codex-cli X.Y.Z`; the Rust Open Interpreter prints its own
 * name (`interpreter`/`open-interpreter`/`i`) and version. The file name breaks a tie.
 */
export function parseVersionLine(line: string, path: string): { kind: RustAgentKind; version: string } {
  const version = /(\d+\.\d+\.\d+[\w.+-]*)/.exec(line)?.[1] ?? 'unknown';
  if (/^codex/i.test(line)) return { kind: 'codex', version };
  if (/interpreter/i.test(line)) return { kind: 'interpreter', version };
  const name = basename(path);
  return { kind: name === 'interpreter' || name === 'i' ? 'interpreter' : 'codex', version };
}

async function describe(path: string, source: RustAgentBinary['source']): Promise<RustAgentBinary> {
  try {
    await access(path, fsConstants.X_OK);
  } catch {
    throw new Error(`${source === 'env' ? `${RUST_INTERPRETER_BIN_ENV}=${path}` : path}: not an executable file`);
  }
  const line = await runVersion(path);
  return { path, source, ...parseVersionLine(line, path) };
}

let installInFlight: Promise<string> | undefined;

/** Run scripts/setup-codex.sh (idempotent, cached); resolves to the binary path it prints last. */
function runSetup(onProgress?: (line: string) => void): Promise<string> {
  const script = join(repoRoot(), 'scripts', 'setup-codex.sh');
  const recent: string[] = [];
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let last = '';
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.trim()) last = line.trim();
    });
    createInterface({ input: child.stderr }).on('line', (line) => {
      recent.push(line);
      if (recent.length > LINES_KEPT) recent.shift();
      if (line.startsWith(SETUP_TAG) || /^npm http fetch/.test(line)) onProgress?.(line);
    });
    child.on('error', (err) => reject(new Error(`could not run ${script}: ${err.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0 && last) resolve(last);
      else reject(new Error(`Codex ${PINNED_CODEX_VERSION} setup failed (${signal ? `killed by ${signal}` : `exit code ${code}`}); last output:\n${recent.join('\n')}`));
    });
  });
}

/** The binary to run: the env override as given, else the pinned Codex (installed on first use). */
export async function ensureRustAgent(options: EnsureRustAgentOptions = {}): Promise<RustAgentBinary> {
  const override = process.env[RUST_INTERPRETER_BIN_ENV];
  if (override) return describe(override, 'env');
  installInFlight ??= runSetup(options.onProgress).finally(() => {
    installInFlight = undefined;
  });
  const path = await installInFlight;
  const binary = await describe(path, 'pinned');
  if (binary.version !== PINNED_CODEX_VERSION) {
    throw new Error(`${path} reports version ${binary.version}, expected the pinned ${PINNED_CODEX_VERSION}`);
  }
  return binary;
}
