import { defineConfig } from 'vitest/config';

// Integration and e2e tests start real processes (Open Interpreter, the Collector, rsyslog, dockerd):
// generous timeouts, and files run one at a time so two cores are not oversubscribed.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    fileParallelism: false,
    reporters: ['default'],
  },
});
