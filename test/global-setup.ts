import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Run a setup script, echoing its progress; a failure stops the whole run (no test may skip for it). */
function runScript(script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    process.stderr.write(`[global-setup] ${script} …\n`);
    const child = spawn('bash', [script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let tail = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      process.stderr.write(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      tail = (tail + d.toString()).slice(-4000);
      process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      if (code === 0) {
        process.stderr.write(`[global-setup] ${script} done in ${secs} s\n`);
        resolve(stdout.trim().split('\n').at(-1) ?? '');
      } else reject(new Error(`${script} failed with exit code ${code} after ${secs} s:\n${tail}`));
    });
  });
}

/**
 * Everything the integration and e2e tests need, installed before any test runs: the pinned
 * Open Interpreter virtualenv, the pinned Codex binary, bubblewrap + strace, the ocb-built Collector and the
 * Prometheus tools (all cached, so reruns take seconds).
 */
export default async function setup(): Promise<void> {
  await runScript('scripts/setup-openinterpreter.sh');
  // Codex 0.148.0, the Rust Open Interpreter's code base (test/e2e/rust-agent.test.ts): a failed install fails the run.
  await runScript('scripts/setup-codex.sh');
  // bubblewrap (the sandbox every session runs in by default) and strace (execution ground truth).
  await runScript('scripts/setup-sandbox.sh');
  // tmux: the real terminal `oi-audit chat` is tested in.
  await runScript('scripts/setup-test-tools.sh');
  const collector = await runScript('scripts/build-collector.sh');
  process.env.OI_AUDIT_OTELCOL = collector;
  // Alertmanager, Prometheus and promtool (test/integration/alert-delivery.test.ts): alerts must reach a receiver.
  process.env.OI_AUDIT_PROM_TOOLS = await runScript('scripts/build-prom-tools.sh');
}
