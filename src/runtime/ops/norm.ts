// Row normalisations over the last dimension, computed in float32.
import { isFloat } from '../dtype.js';
import { ShapeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';

function checkParam(op: string, name: string, p: Tensor | null, x: Tensor): void {
  if (p === null || p === undefined) return;
  const d = x.shape[x.ndim - 1];
  if (p.ndim !== 1 || p.shape[0] !== d) throw new ShapeError(`${op}: ${name} has shape [${p.shape.join(',')}], expected [${d}]`);
  if (!isFloat(p.dtype)) throw new ShapeError(`${op}: ${name} has dtype ${p.dtype}, expected a float dtype`);
  if (p.device !== x.device) throw new ShapeError(`${op}: ${name} is on ${p.device}, x on ${x.device}`);
}

function prepare(op: string, x: Tensor, eps: number): Tensor {
  if (x.ndim < 1) throw new ShapeError(`${op}: x needs at least one dimension`);
  if (!isFloat(x.dtype)) throw new ShapeError(`${op}: x has dtype ${x.dtype}, expected a float dtype`);
  if (!Number.isFinite(eps) || eps < 0) throw new ShapeError(`${op}: eps must be a finite non-negative number, got ${eps}`);
  return x.to('f32');
}

/**
 * Qwen3RMSNorm: in float32, y = x * rsqrt(mean(x^2) + eps), then weight * y (weight in any float
 * dtype, or null for none).
 */
export function rmsNorm(x: Tensor, weight: Tensor | null, eps: number): Tensor {
  const xx = prepare('rmsNorm', x, eps);
  let out: Tensor | undefined;
  try {
    checkParam('rmsNorm', 'weight', weight, x);
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
  const xx = prepare('layerNorm', x, eps);
  let out: Tensor | undefined;
  try {
    checkParam('layerNorm', 'weight', weight, x);
    checkParam('layerNorm', 'bias', bias, x);
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
