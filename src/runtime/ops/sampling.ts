// LM logit processing and sampling over [B, V] f32 logits: repetition penalty, CFG mix, top-k /
// top-p filtering (HF warper semantics) and seeded exponential-race sampling.
import { ShapeError } from '../errors.js';
import { native } from '../native.js';
import { Tensor } from '../tensor.js';

const fmt = (t: Tensor) => `[${t.shape.join(',')}]`;

function logitsIn(x: Tensor, op: string): Tensor {
  if (x.ndim !== 2) throw new ShapeError(`${op}: logits must be [B, V], got ${fmt(x)}`);
  return x.dtype === 'f32' ? x.contiguous() : x.to('f32');
}

// Runs a native call that writes `out`; disposes the temporaries and `out` on a synchronous error.
function call(out: Tensor, temps: Tensor[], fn: () => void): Tensor {
  try {
    fn();
    return out;
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    for (const t of temps) t.dispose();
  }
}

/** HF RepetitionPenaltyLogitsProcessor: each distinct previous token (-1 = padding) scores s<0 ? s*penalty : s/penalty. */
export function repetitionPenalty(logits: Tensor, previous: Tensor, penalty: number): Tensor {
  if (!Number.isFinite(penalty) || penalty <= 0) throw new ShapeError(`repetitionPenalty: penalty must be a positive number, got ${penalty}`);
  const x = logitsIn(logits, 'repetitionPenalty');
  if (previous.ndim !== 2 || previous.shape[0] !== x.shape[0]) {
    x.dispose();
    throw new ShapeError(`repetitionPenalty: previous must be [${x.shape[0]}, L], got ${fmt(previous)}`);
  }
  if (previous.dtype !== 'i32' && previous.dtype !== 'i64') {
    x.dispose();
    throw new ShapeError(`repetitionPenalty: previous must be i32 or i64, got ${previous.dtype}`);
  }
  const prev = previous.contiguous();
  const out = Tensor.empty(x.shape, 'f32', x.device);
  return call(out, [x, prev], () => native.repetitionPenalty(x.desc(), prev.desc(), out.desc(), penalty));
}

/** uncond + scale * (cond - uncond). */
export function cfgCombine(cond: Tensor, uncond: Tensor, scale: number): Tensor {
  if (cond.shape.length !== uncond.shape.length || cond.shape.some((n, i) => n !== uncond.shape[i])) {
    throw new ShapeError(`cfgCombine: cond ${fmt(cond)} and uncond ${fmt(uncond)} differ`);
  }
  if (!Number.isFinite(scale)) throw new ShapeError(`cfgCombine: scale must be finite, got ${scale}`);
  const f = (t: Tensor) => (t.dtype === 'f32' ? t.contiguous() : t.to('f32'));
  const c = f(cond), u = f(uncond);
  const out = Tensor.empty(cond.shape, 'f32', cond.device);
  return call(out, [c, u], () => native.cfgCombine(c.desc(), u.desc(), out.desc(), scale));
}

/** All but the k largest logits of each row become -inf (values tied with the k-th are kept); k <= 0 or k >= V: unchanged. */
export function topK(logits: Tensor, k: number): Tensor {
  if (!Number.isInteger(k)) throw new ShapeError(`topK: k must be an integer, got ${k}`);
  const x = logitsIn(logits, 'topK');
  const out = Tensor.empty(x.shape, 'f32', x.device);
  if (k <= 0 || k >= x.shape[1]) return call(out, [x], () => native.copy(x.desc(), out.desc()));
  return call(out, [x], () => native.topK(x.desc(), out.desc(), k));
}

/** HF TopPLogitsWarper: drop the low tail whose cumulative probability is <= 1 - p, keep at least the top token; p >= 1: unchanged. */
export function topP(logits: Tensor, p: number): Tensor {
  if (!(p >= 0)) throw new ShapeError(`topP: p must be a number >= 0, got ${p}`);
  const x = logitsIn(logits, 'topP');
  const out = Tensor.empty(x.shape, 'f32', x.device);
  if (p >= 1 || x.shape[1] === 0) return call(out, [x], () => native.copy(x.desc(), out.desc()));
  return call(out, [x], () => native.topP(x.desc(), out.desc(), p));
}

/**
 * Exponential-race sampling: per row, argmax_i p_i / E_i with E_i ~ Exp(1) drawn from
 * Philox4x32-10 keyed by `seed` at counter (i, row, step). Reproducible for the same
 * (seed, step, logits); -inf logits are never chosen. Returns [B] i32.
 */
export function sampleRace(logits: Tensor, seed: number, step: number): Tensor {
  if (!Number.isInteger(seed) || seed < 0 || seed > 2 ** 53) throw new ShapeError(`sampleRace: seed must be an integer in [0, 2^53], got ${seed}`);
  if (!Number.isInteger(step) || step < 0 || step >= 2 ** 32) throw new ShapeError(`sampleRace: step must be an integer in [0, 2^32), got ${step}`);
  const x = logitsIn(logits, 'sampleRace');
  if (x.shape[1] === 0) {
    x.dispose();
    throw new ShapeError('sampleRace: empty vocabulary');
  }
  const out = Tensor.empty([x.shape[0]], 'i32', x.device);
  return call(out, [x], () => native.sampleRace(x.desc(), out.desc(), seed, step));
}
