import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // One native queue and thread pool per process: run files in separate forks, two at a time.
    pool: 'forks',
    maxWorkers: 2,
    // Memory-accounting tests collect garbage first, so tensors leaked by earlier tests (freed by
    // GC finalizers at an arbitrary moment) cannot change the counts they compare.
    execArgv: ['--expose-gc'],
    // Browser and server tests poll for what a page or a job shows; on a loaded 2-core machine a
    // server answer can take seconds, so a poll waits up to 15 s before it fails.
    expect: { poll: { timeout: 15_000 } },
  },
});
