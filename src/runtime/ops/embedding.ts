// Embedding lookup: gathers rows of a [V, H] table (any float dtype) as f32.
import { native } from '../native.js';
import { Tensor } from '../tensor.js';
import { expectRank } from './args.js';

/**
 * weight [V, H], ids [...] i32|i64 -> [..., H] f32. An id outside [0, V) raises a KernelError naming
 * the id at the next sync point (ids live on the device, so they are checked by the kernel).
 * native/ops_embedding.cc validates dtypes and devices.
 */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  expectRank('embedding', 'weight', weight, 2, '[V, H]');
  const w = weight.strides[1] === 1 || weight.shape[1] <= 1 ? weight : weight.contiguous();
  const idc = ids.contiguous();
  let out: Tensor | undefined;
  try {
    out = Tensor.empty([...ids.shape, weight.shape[1]], 'f32', weight.device);
    native.embedding(w.desc(), idc.desc(), out.desc());
    return out;
  } catch (e) {
    out?.dispose();
    throw e;
  } finally {
    if (w !== weight) w.dispose();
    idc.dispose();
  }
}
