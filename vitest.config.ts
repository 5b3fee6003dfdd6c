import { defineConfig } from 'vitest/config';

// Unit tests need nothing outside the process and run in parallel. Integration and e2e tests start real
// processes (Open Interpreter, Codex, the Collector, rsyslog, dockerd): generous timeouts, and files run one at
// a time so two cores are not oversubscribed. Only those run the global setup (venv install, Collector build).
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 600_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          fileParallelism: false,
        },
      },
    ],
  },
});
