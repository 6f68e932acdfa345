// Logit ops against plain-JS versions of the HF warpers / processors, and statistical and
// determinism properties of the exponential-race sampler.
import { afterAll, describe, expect, it } from 'vitest';
import { KernelError, ShapeError, Tensor, cfgCombine, repetitionPenalty, sampleRace, tidy, topK, topP } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { normal, randomInts } from './support/random.js';

afterAll(() => native.setCpuImpl('fast'));

const impls = ['reference', 'fast'] as const;
function run<T>(impl: (typeof impls)[number], fn: () => T): T {
  native.setCpuImpl(impl);
  try {
    return tidy(fn);
  } finally {
    native.setCpuImpl('fast');
  }
}
const f32 = (t: Tensor) => Array.from(t.dataSync() as Float32Array);

// HF TopKLogitsWarper: remove scores < the k-th largest (torch.topk keeps duplicates).
function jsTopK(row: number[], k: number): number[] {
  const kth = [...row].sort((a, b) => b - a)[k - 1];
  return row.map((x) => (x < kth ? -Infinity : x));
}
// HF TopPLogitsWarper: ascending sort, softmax, cumsum, remove cum <= 1 - p, keep the last.
function jsTopP(row: number[], p: number): number[] {
  const idx = row.map((_, i) => i).sort((a, b) => row[a] - row[b] || a - b);
  const mx = Math.max(...row);
  const e = idx.map((i) => Math.exp(row[i] - mx));
  const z = e.reduce((a, b) => a + b, 0);
  const out = [...row];
  let cum = 0;
  for (let r = 0; r < idx.length; r++) {
    cum += e[r] / z;
    if (cum <= 1 - p && r < idx.length - 1) out[idx[r]] = -Infinity;
  }
  return out;
}
// HF RepetitionPenaltyLogitsProcessor: gather, penalise, scatter; torch does the arithmetic in
// f32 with the penalty rounded to f32 (rounding the double result of an f32 * or / is exact f32).
function jsPenalty(row: number[], prev: number[], penaltyIn: number): number[] {
  const penalty = Math.fround(penaltyIn);
  const out = [...row];
  for (const id of prev) if (id >= 0) out[id] = row[id] < 0 ? row[id] * penalty : row[id] / penalty;
  return out;
}

const B = 3,
  V = 400;
const data = Array.from(normal(B * V, 21, 2), (x) => Math.fround(x));
const rows = Array.from({ length: B }, (_, b) => data.slice(b * V, (b + 1) * V));

describe.each(impls)('%s kernels', (impl) => {
  it('topK equals the HF warper, ties with the k-th value kept', () => {
    const tied = data.map((x) => Math.round(x * 4) / 4);
    for (const k of [1, 3, 40, 399]) {
      const got = run(impl, () => f32(topK(Tensor.fromArray(tied, [B, V]), k)));
      const want = Array.from({ length: B }, (_, b) => jsTopK(tied.slice(b * V, (b + 1) * V), k)).flat();
      expect(got).toEqual(want);
    }
    // k <= 0 and k >= V leave the logits unchanged.
    expect(run(impl, () => f32(topK(Tensor.fromArray(data, [B, V]), 0)))).toEqual(data);
    expect(run(impl, () => f32(topK(Tensor.fromArray(data, [B, V]), V)))).toEqual(data);
  });

  it('topP equals the HF warper', () => {
    for (const p of [0, 0.3, 0.9, 0.99]) {
      const got = run(impl, () => f32(topP(Tensor.fromArray(data, [B, V]), p)));
      const want = rows.map((r) => jsTopP(r, p)).flat();
      expect(got).toEqual(want);
      const kept = got.filter((x) => x > -Infinity).length;
      expect(kept).toBeGreaterThanOrEqual(B);
    }
    expect(run(impl, () => f32(topP(Tensor.fromArray(data, [B, V]), 1)))).toEqual(data);
  });

  it('topP on codes-head-sized rows (flat, peaked, ties, -inf and NaN) equals the HF warper', () => {
    // 64001 columns as in the codes phase; random weights give flat rows (most tokens kept),
    // trained ones peaked rows (a few kept). Quantised values make long runs of ties.
    const W = 64001;
    const flat = Array.from(normal(W, 31, 0.3));
    const peaked = Array.from(normal(W, 32, 6));
    const tiedRow = flat.map((x) => Math.round(x * 8) / 8);
    const holes = flat.map((x, i) => (i % 11 === 0 ? -Infinity : i % 13 === 0 ? NaN : x));
    const cases = [flat, peaked, tiedRow, holes];
    for (const p of [0.05, 0.5, 0.9, 0.999]) {
      const got = run(impl, () => f32(topP(Tensor.fromArray(cases.flat(), [cases.length, W]), p)));
      const want = cases
        .map((r) =>
          jsTopP(
            r.map((x) => (Number.isNaN(x) ? -Infinity : x)),
            p,
          ),
        )
        .flat();
      // NaN is ranked as -inf (never kept ahead of a number); a removed NaN becomes -inf.
      const kept = (row: number[], b: number) => row.map((x, i) => (want[b * W + i] === -Infinity ? -Infinity : x));
      expect(got).toEqual(cases.map(kept).flat());
    }
  });

  it('repetitionPenalty equals the HF processor, once per distinct token, -1 ignored', () => {
    const prev = Array.from(randomInts(B * 50, 5, -1, 60));
    const got = run(impl, () =>
      f32(repetitionPenalty(Tensor.fromArray(data, [B, V]), Tensor.fromArray(prev, [B, 50], { dtype: 'i32' }), 1.7)),
    );
    const want = rows.map((r, b) => jsPenalty(r, prev.slice(b * 50, (b + 1) * 50), 1.7).map(Math.fround)).flat();
    expect(got).toEqual(want);
  });

  it('cfgCombine is uncond + s (cond - uncond)', () => {
    const u = Array.from(normal(B * V, 22), Math.fround);
    const got = run(impl, () => f32(cfgCombine(Tensor.fromArray(data, [B, V]), Tensor.fromArray(u, [B, V]), 2.5)));
    got.forEach((g, i) => expect(Math.abs(g - (u[i] + 2.5 * (data[i] - u[i])))).toBeLessThan(1e-5));
  });

  it('sampleRace frequencies follow softmax (chi-square over 6000 draws)', () => {
    const logit = [1.2, 0.3, -0.5, 2.0, 0.0, -1.5, 0.8, -Infinity];
    const R = 2000;
    const counts = new Array<number>(logit.length).fill(0);
    for (let step = 0; step < 3; step++) {
      const ids = run(impl, () =>
        Array.from(sampleRace(Tensor.fromArray(new Array(R).fill(logit).flat(), [R, logit.length]), 99, step).dataSync() as Int32Array),
      );
      for (const id of ids) counts[id]++;
    }
    expect(counts[7]).toBe(0); // -inf is never chosen
    const mx = Math.max(...logit);
    const e = logit.map((x) => Math.exp(x - mx));
    const z = e.reduce((a, b) => a + b, 0);
    const n = 3 * R;
    let chi2 = 0;
    for (let i = 0; i < 7; i++) chi2 += (counts[i] - (n * e[i]) / z) ** 2 / ((n * e[i]) / z);
    // 6 degrees of freedom: P(chi2 > 27.9) = 1e-4.
    expect(chi2).toBeLessThan(27.9);
  });

  it('sampleRace never picks -inf and is reproducible by (seed, step)', () => {
    const x = Array.from(normal(8 * 5000, 3, 4));
    for (let i = 0; i < x.length; i++) if (i % 5000 !== 17 && i % 7 !== 0) x[i] = -Infinity;
    const a = run(impl, () => Array.from(sampleRace(Tensor.fromArray(x, [8, 5000]), 5, 11).dataSync() as Int32Array));
    const b = run(impl, () => Array.from(sampleRace(Tensor.fromArray(x, [8, 5000]), 5, 11).dataSync() as Int32Array));
    expect(a).toEqual(b);
    a.forEach((id, r) => expect(x[r * 5000 + id]).toBeGreaterThan(-Infinity));
    const c = run(impl, () => Array.from(sampleRace(Tensor.fromArray(x, [8, 5000]), 5, 12).dataSync() as Int32Array));
    expect(c).not.toEqual(a); // another step draws new noise (8 rows of ~700 candidates)
  });
});

describe('argument and data errors', () => {
  it('a row with only -inf logits is a KernelError naming the row', () => {
    expect(() => tidy(() => sampleRace(Tensor.fromArray([0, 1, -Infinity, -Infinity], [2, 2]), 1, 0).dataSync())).toThrow(KernelError);
    expect(() => tidy(() => sampleRace(Tensor.fromArray([0, 1, -Infinity, -Infinity], [2, 2]), 1, 0).dataSync())).toThrow(/row 1/);
  });
  it('a previous token outside the vocabulary is a KernelError naming the id', () => {
    expect(() =>
      tidy(() => repetitionPenalty(Tensor.zeros([1, 10]), Tensor.fromArray([3, 12], [1, 2], { dtype: 'i32' }), 1.2).dataSync()),
    ).toThrow(/token id 12 at \[0,1\] is outside \[0, 10\)/);
  });
  it('bad parameters are ShapeErrors', () => {
    tidy(() => {
      const x = Tensor.zeros([2, 5]);
      expect(() => topK(x, 1.5)).toThrow(ShapeError);
      expect(() => topP(x, -0.1)).toThrow(ShapeError);
      expect(() => sampleRace(x, -1, 0)).toThrow(/seed/);
      expect(() => sampleRace(x, 1, 2 ** 32)).toThrow(/step/);
      expect(() => repetitionPenalty(x, Tensor.zeros([3, 2], 'i32'), 1.1)).toThrow(/previous must be \[B, L\] with B = 2/);
      expect(() => repetitionPenalty(x, Tensor.zeros([2, 2], 'f32'), 1.1)).toThrow(/'previous' has dtype f32, expected i32\|i64/);
      expect(() => repetitionPenalty(x, Tensor.zeros([2, 2], 'i32'), 0)).toThrow(/penalty must be positive/);
      expect(() => cfgCombine(x, Tensor.zeros([2, 4]), 2)).toThrow(/'uncond' has shape \[2,4\], expected \[2,5\]/);
      expect(() => cfgCombine(x, x, Infinity)).toThrow(/scale must be finite/);
      expect(() => sampleRace(Tensor.zeros([2, 0]), 1, 0)).toThrow(/empty vocabulary/);
      expect(() => topK(Tensor.zeros([10]), 2)).toThrow(/\[B, V\]/);
    });
  });
});
