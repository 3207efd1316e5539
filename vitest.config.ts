import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    reporters: ['default'],
    // Two files at a time, whatever the machine: most files wait on servers and processes
    // they start (PostgreSQL, Redis, the gateway), so a second runs in that time. Every file
    // keeps to data of its own (random names, its own databases and keys).
    maxWorkers: 2,
  },
});
