// Seeded standard-normal noise from the counter-based Philox4x32-10 generator. Element i of the
// result uses subsequence offset + i, so with offset 0 it matches torch.randn on a fresh CUDA
// generator with the same seed (before any bf16 rounding) as long as torch maps one element per
// subsequence, i.e. below its GPU-dependent size limit (spec §13.6: 270 336 elements on an H100).
import { getDefaultDevice } from '../backend.js';
import type { Device } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';

export function randn(shape: number[], seed: number, opts: { offset?: number; device?: Device } = {}): Tensor {
  if (!Number.isInteger(seed) || seed < 0 || seed > 2 ** 53) throw new ShapeError(`randn: seed must be an integer in [0, 2^53], got ${seed}`);
  const offset = opts.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0 || offset > 2 ** 53) throw new ShapeError(`randn: offset must be an integer in [0, 2^53], got ${offset}`);
  const out = Tensor.empty(shape, 'f32', opts.device ?? getDefaultDevice());
  try {
    native.randn(out.desc(), seed, offset);
  } catch (e) {
    out.dispose();
    throw e;
  }
  return out;
}
