import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// Unit tests need nothing outside the process and run in parallel. Integration and e2e tests start real
// processes (Open Interpreter, Codex, the Collector, rsyslog, dockerd): generous timeouts, and files run one at
// a time so two cores are not oversubscribed. Only those run the global setup (venv install, Collector build).
// Vitest's default for `run` is one worker fewer than the cores: one worker on a 2-core CI machine, so the
// unit files (CPU-bound, no I/O waits) ran one after another; they get a worker per core (at least 2), and
// run before the integration files (groupOrder) so those never share the cores with two unit workers.
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 600_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          maxWorkers: Math.max(2, availableParallelism()),
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
