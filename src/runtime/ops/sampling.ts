// LM logit processing and sampling over [B, V] f32 logits: repetition penalty, CFG mix, top-k /
// top-p filtering (HF warper semantics) and seeded exponential-race sampling. native/ops_sampling.cc
// validates shapes, dtypes and the scalar ranges.
import { ShapeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';
import { runInto } from './args.js';

// Logits go to the kernels as contiguous f32.
function logitsIn(x: Tensor): Tensor {
  return x.dtype === 'f32' ? x.contiguous() : x.to('f32');
}

/** HF RepetitionPenaltyLogitsProcessor: each distinct previous token (-1 = padding) scores s<0 ? s*penalty : s/penalty. */
export function repetitionPenalty(logits: Tensor, previous: Tensor, penalty: number): Tensor {
  const x = logitsIn(logits);
  const prev = previous.contiguous();
  const out = Tensor.empty(x.shape, 'f32', x.device);
  return runInto(out, [x, prev], () => native.repetitionPenalty(x.desc(), prev.desc(), out.desc(), penalty));
}

/** uncond + scale * (cond - uncond). */
export function cfgCombine(cond: Tensor, uncond: Tensor, scale: number): Tensor {
  const c = logitsIn(cond),
    u = logitsIn(uncond);
  const out = Tensor.empty(cond.shape, 'f32', cond.device);
  return runInto(out, [c, u], () => native.cfgCombine(c.desc(), u.desc(), out.desc(), scale));
}

/** All but the k largest logits of each row become -inf (values tied with the k-th are kept); k <= 0 or k >= V: unchanged. */
export function topK(logits: Tensor, k: number): Tensor {
  // k decides the no-op shortcut below, so it is checked before the glue sees it.
  if (!Number.isInteger(k)) throw new ShapeError(`topK: k must be an integer, got ${k}`);
  const x = logitsIn(logits);
  const out = Tensor.empty(x.shape, 'f32', x.device);
  if (k <= 0 || k >= x.shape[1]) return runInto(out, [x], () => native.copy(x.desc(), out.desc()));
  return runInto(out, [x], () => native.topK(x.desc(), out.desc(), k));
}

/** HF TopPLogitsWarper: drop the low tail whose cumulative probability is <= 1 - p, keep at least the top token; p >= 1: unchanged. */
export function topP(logits: Tensor, p: number): Tensor {
  const x = logitsIn(logits);
  const out = Tensor.empty(x.shape, 'f32', x.device);
  if (p >= 1 || x.shape[1] === 0) return runInto(out, [x], () => native.copy(x.desc(), out.desc()));
  return runInto(out, [x], () => native.topP(x.desc(), out.desc(), p));
}

/**
 * Exponential-race sampling: per row, argmax_i p_i / E_i with E_i ~ Exp(1) drawn from
 * Philox4x32-10 keyed by `seed` at counter (i, row, step). Reproducible for the same
 * (seed, step, logits); -inf logits are never chosen. Returns [B] i32.
 */
export function sampleRace(logits: Tensor, seed: number, step: number): Tensor {
  const x = logitsIn(logits);
  const out = Tensor.empty(x.shape.slice(0, 1), 'i32', x.device);
  return runInto(out, [x], () => native.sampleRace(x.desc(), out.desc(), seed, step));
}
