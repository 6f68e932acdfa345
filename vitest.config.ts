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
  },
});
