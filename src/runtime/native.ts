// Loads the compiled addon. ACESTEP_ADDON overrides the path (e.g. a node-gyp build elsewhere).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BackendUnavailableError } from './errors.js';

/** Opaque native reference to a Buffer (see native/tensor_arg.h). */
export interface BufferHandle {
  release(): void;
  retain(): BufferHandle;
  readonly bytes: number;
  readonly device: 'cpu' | 'cuda' | null;
}

/** The descriptor every native op takes for a tensor argument. */
export interface TensorDesc {
  b: BufferHandle;
  o: number; // byte offset
  d: number; // dtype code
  s: number[]; // shape
  t: number[]; // strides in elements
}

// The addon's exports are typed where used (src/runtime/ops/*); the core ones are listed here.
export interface NativeAddon {
  empty(bytes: number, device: string): BufferHandle;
  fromHost(data: ArrayBufferView, device: string): BufferHandle;
  read(t: TensorDesc): Promise<ArrayBuffer>;
  readSync(t: TensorDesc): ArrayBuffer;
  sync(): Promise<void>;
  syncBlocking(): void;
  memoryStats(): {
    cpu: { inUse: number; peak: number; limit: number };
    cuda: { inUse: number; peak: number; limit: number };
    queued: number;
    cpuCached: number;
  };
  releaseCachedMemory(): number;
  setCpuCacheLimit(bytes: number): void;
  setMemoryLimit(device: string, bytes: number): void;
  setNumThreads(n: number): void;
  numThreads(): number;
  setCpuImpl(impl: 'fast' | 'reference'): void;
  cudaInfo(): { compiled: boolean; available: boolean; status: string };
  cpuFeatures(): Record<string, boolean>;
  copy(src: TensorDesc, out: TensorDesc): void;
  fill(out: TensorDesc, value: number): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [op: string]: any;
}

function findAddon(): string {
  const fromEnv = process.env.ACESTEP_ADDON;
  if (fromEnv) return resolve(fromEnv);
  // Walk up from this file to the package root (works from src/ under vitest and from dist/).
  const from = dirname(fileURLToPath(import.meta.url));
  let dir = from;
  for (let i = 0; i < 5; i++) {
    const candidate = join(dir, 'build', 'Release', 'acestep.node');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new BackendUnavailableError(`acestep native addon not found (no build/Release/acestep.node in the 5 folders from ${from} up): run \`npm install\` (or \`npm run build:native\`) first, or set ACESTEP_ADDON`);
}

const require = createRequire(import.meta.url);
export const addonPath = findAddon();
export const native: NativeAddon = require(addonPath);
