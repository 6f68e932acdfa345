// Vitest configuration of the sanitizer run (scripts/sanitize.sh): the project's settings plus a
// setup file that sizes the thread pool from ACESTEP_TEST_THREADS.
import { fileURLToPath } from 'node:url';
import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../vitest.config.js';

export default mergeConfig(
  base,
  defineConfig({
    root: fileURLToPath(new URL('..', import.meta.url)),
    test: { setupFiles: ['test/support/sanitize-setup.ts'], maxWorkers: 1 },
  }),
);
