// Embedding lookup: gathers rows of a [V, H] table (any float dtype) as f32.
import { isFloat } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';

/**
 * weight [V, H], ids [...] i32|i64 -> [..., H] f32. An id outside [0, V) raises a KernelError naming
 * the id at the next sync point (ids live on the device, so they are checked by the kernel).
 */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  if (weight.ndim !== 2) throw new ShapeError(`embedding: weight must be [V, H], got [${weight.shape.join(',')}]`);
  if (!isFloat(weight.dtype)) throw new ShapeError(`embedding: weight has dtype ${weight.dtype}, expected a float dtype`);
  if (ids.dtype !== 'i32' && ids.dtype !== 'i64') throw new ShapeError(`embedding: ids have dtype ${ids.dtype}, expected i32 or i64`);
  if (ids.device !== weight.device) throw new ShapeError(`embedding: ids on ${ids.device}, weight on ${weight.device}`);
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
