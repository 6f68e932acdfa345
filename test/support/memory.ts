// Brings native memory to a quiet point before a test compares allocation counts: collects garbage
// (vitest runs with --expose-gc) so finalizers of tensors leaked by earlier tests run now rather
// than in the middle of a measurement, then waits for queued work.
import { flush } from '../../src/runtime/index.js';

export async function settleMemory(): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((r) => setTimeout(r, 10));
  await flush();
}
