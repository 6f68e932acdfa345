// Row normalisations over the last dimension, computed in float32. native/ops_norm.cc validates
// the call (dtypes, devices, parameter shapes, eps).
import { isFloat } from '../dtype.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';

/** Contiguous f32 rows; a non-float x goes on unconverted for the glue to reject. */
function rows(x: Tensor): Tensor {
  return isFloat(x.dtype) ? x.to('f32') : x.contiguous();
}

/**
 * Qwen3RMSNorm: in float32, y = x * rsqrt(mean(x^2) + eps), then weight * y (weight in any float
 * dtype, or null for none).
 */
export function rmsNorm(x: Tensor, weight: Tensor | null, eps: number): Tensor {
  const xx = rows(x);
  let out: Tensor | undefined;
  try {
    out = Tensor.empty(x.shape, 'f32', x.device);
    native.rmsNorm(xx.desc(), weight ? weight.desc() : null, out.desc(), eps);
    return out;
  } catch (e) {
    out?.dispose();
    throw e;
  } finally {
    xx.dispose();
  }
}

/** LayerNorm over the last dim (biased variance): (x - mean) / sqrt(var + eps) * weight + bias. */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  const xx = rows(x);
  let out: Tensor | undefined;
  try {
    out = Tensor.empty(x.shape, 'f32', x.device);
    native.layerNorm(xx.desc(), weight ? weight.desc() : null, bias ? bias.desc() : null, out.desc(), eps);
    return out;
  } catch (e) {
    out?.dispose();
    throw e;
  } finally {
    xx.dispose();
  }
}
