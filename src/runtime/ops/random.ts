// Seeded standard-normal noise from the counter-based Philox4x32-10 generator. Element i of the
// result uses subsequence offset + i, so with offset 0 it matches torch.randn on a fresh CUDA
// generator with the same seed (before any bf16 rounding) as long as torch maps one element per
// subsequence, i.e. below its GPU-dependent size limit (UPSTREAM.md: Noise and seeds: 270 336
// elements on an H100).
import { getDefaultDevice } from '../backend.js';
import type { Device } from '../dtype.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';

/** Seed and offset are integers in [0, 2^53] (checked by native/ops_random.cc). */
export function randn(shape: number[], seed: number, opts: { offset?: number; device?: Device } = {}): Tensor {
  const out = Tensor.empty(shape, 'f32', opts.device ?? getDefaultDevice());
  try {
    native.randn(out.desc(), seed, opts.offset ?? 0);
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}
