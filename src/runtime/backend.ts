// Backend selection: which device new tensors (and so the ops on them) use.
import type { Device } from './dtype.js';
import { BackendUnavailableError, ShapeError } from './errors.js';
import { native } from './native.js';

export type BackendChoice = 'cpu' | 'cuda' | 'auto';
export const BACKEND_CHOICES: readonly BackendChoice[] = ['cpu', 'cuda', 'auto'];

let defaultDevice: Device = 'cpu';

export function cudaInfo(): { compiled: boolean; available: boolean; status: string } {
  return native.cudaInfo();
}

/** Resolves a choice to a device: 'auto' picks CUDA when usable, else the CPU. */
export function resolveBackend(choice: BackendChoice): Device {
  if (!BACKEND_CHOICES.includes(choice))
    throw new BackendUnavailableError(`unknown backend ${JSON.stringify(choice)}: expected 'cpu', 'cuda' or 'auto'`);
  if (choice === 'cpu') return 'cpu';
  const info = native.cudaInfo();
  if (choice === 'cuda') {
    if (!info.available) throw new BackendUnavailableError(info.status);
    return 'cuda';
  }
  return info.available ? 'cuda' : 'cpu';
}

export function setBackend(choice: BackendChoice): Device {
  defaultDevice = resolveBackend(choice);
  return defaultDevice;
}

export function getDefaultDevice(): Device {
  return defaultDevice;
}

/**
 * Threads used by CPU kernels (0 = one per hardware thread, the default). The pool holds at most 4
 * per hardware thread (at least 16) and fewer when the OS refuses more; a larger request is
 * clamped with a process warning.
 */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 0)
    throw new ShapeError(`setNumThreads: n must be a non-negative integer (0 = one per hardware thread), got ${n}`);
  native.setNumThreads(n);
  const got = native.numThreads();
  if (n > 0 && got < n)
    process.emitWarning(`setNumThreads(${n}): clamped to ${got} threads (at most 4 per hardware thread, and what the OS grants)`, {
      code: 'ACESTEP_THREADS_CLAMPED',
    });
}
export function getNumThreads(): number {
  return native.numThreads();
}

/** Resolves once all queued native work has run; rejects with the first error it raised. */
export async function flush(): Promise<void> {
  await native.sync();
}

export interface MemoryStats {
  inUse: number;
  peak: number;
  limit: number;
}

/** Bytes in use per device, the queue depth, and the CPU block cache held for reuse. */
export function memoryStats(): { cpu: MemoryStats; cuda: MemoryStats; queued: number; cpuCached: number } {
  return native.memoryStats();
}

/** Frees the CPU block cache (after queued work has run); returns the bytes released. */
export function releaseCachedMemory(): number {
  return native.releaseCachedMemory();
}

/** Caps the CPU block cache (default a quarter of physical memory, 2-16 GiB; 0 disables reuse). */
export function setCpuCacheLimit(bytes: number): void {
  native.setCpuCacheLimit(bytes);
}

/** Caps allocations on a device (0 = no cap); beyond it ops fail with OutOfMemoryError. */
export function setMemoryLimit(device: Device, bytes: number): void {
  native.setMemoryLimit(device, bytes);
}
