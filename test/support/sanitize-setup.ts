// Setup file of the sanitizer run (scripts/sanitize.sh): sizes the CPU thread pool from
// ACESTEP_TEST_THREADS before each test file, so the same tests run with 2 and with 8 threads.
import { setNumThreads } from '../../src/runtime/index.js';

const n = Number(process.env.ACESTEP_TEST_THREADS);
if (Number.isInteger(n) && n > 0) setNumThreads(n);
