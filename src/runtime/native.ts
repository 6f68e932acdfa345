// Loads the compiled addon and hands out its functions wrapped once, so every error they throw or
// reject with reaches callers as one of the typed errors (errors.ts fromNative). ACESTEP_ADDON
// overrides the path (e.g. a node-gyp build elsewhere).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Addon } from './addon-types.js';
import { BackendUnavailableError, fromNative } from './errors.js';

export type { Addon, BufferHandle, TensorDesc } from './addon-types.js';

/** Every function the addon exports; the type below fails to compile if Addon gains one not listed. */
export const ADDON_FUNCTIONS = [
  'empty',
  'fromHost',
  'mapFile',
  'read',
  'readSync',
  'sync',
  'syncBlocking',
  'memoryStats',
  'setMemoryLimit',
  'releaseCachedMemory',
  'setCpuCacheLimit',
  'setNumThreads',
  'numThreads',
  'setCpuImpl',
  'setCpuIsa',
  'cpuFeatures',
  'cudaInfo',
  'cudaGraphBegin',
  'cudaGraphEnd',
  'cudaGraphLaunch',
  'cudaGraphDestroy',
  'copy',
  'fill',
  'unary',
  'binary',
  'ternary',
  'linear',
  'linearInt8',
  'quantizeInt8',
  'matmul',
  'int8RowSums',
  'linearW8A8',
  'attention',
  'conv1d',
  'convTranspose1d',
  'snake',
  'rmsNorm',
  'layerNorm',
  'rope',
  'softmax',
  'reduce',
  'argmax',
  'embedding',
  'randn',
  'repetitionPenalty',
  'cfgCombine',
  'topK',
  'topP',
  'sampleRace',
  'streamRead',
  'peakGflops',
] as const satisfies readonly (keyof Addon)[];
type Unlisted = Exclude<keyof Addon, (typeof ADDON_FUNCTIONS)[number]>;
const allListed: [Unlisted] extends [never] ? true : Unlisted = true;
void allListed;

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
  throw new BackendUnavailableError(
    `acestep native addon not found (no build/Release/acestep.node in the 5 folders from ${from} up): run \`npm install\` (or \`npm run build:native\`) first, or set ACESTEP_ADDON`,
  );
}

// The one place native errors are translated: synchronous throws and rejected promises alike.
function withTypedErrors(raw: Record<string, unknown>): Addon {
  const out: Record<string, unknown> = {};
  for (const name of ADDON_FUNCTIONS) {
    const fn = raw[name];
    if (typeof fn !== 'function')
      throw new BackendUnavailableError(
        `the addon at ${addonPath} has no '${name}' export: it was built from other sources; rebuild it (npm run build:native)`,
      );
    out[name] = (...args: unknown[]) => {
      try {
        const r = fn(...args);
        return r instanceof Promise ? r.catch((e: unknown) => Promise.reject(fromNative(e))) : r;
      } catch (e) {
        throw fromNative(e);
      }
    };
  }
  return out as unknown as Addon;
}

const require = createRequire(import.meta.url);
export const addonPath = findAddon();
/** The raw module, for checks on what it exports; runtime code uses `native`. */
export const rawAddon: Record<string, unknown> = require(addonPath);
export const native: Addon = withTypedErrors(rawAddon);
