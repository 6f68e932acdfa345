// Logit op cases over LM-like rows: repetition penalty with padding and repeated ids, CFG mix,
// top-k with ties, top-p at several p, and the exponential race with -inf entries.
import { Tensor, cfgCombine, repetitionPenalty, sampleRace, topK, topP, type Device } from '../../src/runtime/index.js';
import { normal, randomInts } from '../support/random.js';
import type { OpCase } from './harness.js';

const exact = { atol: 0, exact: true, why: 'selection and per-element arithmetic identical on every backend' };

function logits(B: number, V: number, seed: number, device: Device, opts: { ties?: boolean; negInf?: number } = {}): Tensor {
  const x = normal(B * V, seed, 3);
  if (opts.ties) for (let i = 0; i < x.length; i++) x[i] = Math.round(x[i] * 2) / 2;
  if (opts.negInf) {
    const r = randomInts(B * V, seed + 1, 0, 100);
    for (let i = 0; i < x.length; i++) if (r[i] < opts.negInf) x[i] = -Infinity;
  }
  return Tensor.fromArray(x, [B, V], { device });
}

export const cases: OpCase[] = [];

for (const dtype of ['i32', 'i64'] as const) {
  cases.push({
    op: 'repetitionPenalty',
    name: `[2,1000] L=60 ${dtype} with -1 padding and repeats`,
    tol: exact,
    run: (device) => {
      const ids = randomInts(120, 7, -1, 200); // ids in [-1, 200): many repeats, some padding
      const prev = Tensor.fromArray(ids, [2, 60], { device });
      return repetitionPenalty(logits(2, 1000, 1, device), dtype === 'i32' ? prev : prev.to('i64'), 1.3);
    },
  });
}

cases.push({
  op: 'cfgCombine',
  name: '[2,5000] scale 2.5',
  tol: { atol: 1e-6, rtol: 1e-6, why: 'a device compiler may contract the multiply-add into an fma' },
  run: (device) => cfgCombine(logits(2, 5000, 3, device), logits(2, 5000, 4, device), 2.5),
});

for (const k of [1, 50, 1999]) {
  cases.push({
    op: 'topK',
    name: `[3,2000] k=${k} with ties`,
    tol: exact,
    run: (device) => topK(logits(3, 2000, 5, device, { ties: true }), k),
  });
}
for (const p of [0, 0.5, 0.9, 0.999]) {
  cases.push({ op: 'topP', name: `[3,3000] p=${p}`, tol: exact, run: (device) => topP(logits(3, 3000, 6, device, { negInf: 10 }), p) });
}
for (const [seed, step] of [
  [0, 0],
  [42, 7],
  [2 ** 40 + 1, 123456],
]) {
  cases.push({
    op: 'sampleRace',
    name: `[4,50000] seed ${seed} step ${step} with -inf`,
    tol: exact,
    run: (device) => sampleRace(logits(4, 50000, 8, device, { negInf: 30 }), seed, step),
  });
}
