// Attention against an independent plain-JS implementation (double precision, written from the
// op contract), plus the contract's edge rules and argument errors.
import { afterAll, describe, expect, it } from 'vitest';
import { ShapeError, Tensor, attention, tidy } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { expectClose } from './support/compare.js';
import { normal, randomInts } from './support/random.js';

interface Opts {
  scale?: number;
  causal?: boolean;
  qOffset?: number;
  window?: number;
  mask?: Int32Array;
}

// q [B,Tq,Hq,D], k/v [B,Tk,Hkv,D], all contiguous Float32Arrays.
function jsAttention(q: Float32Array, k: Float32Array, v: Float32Array, dims: number[], o: Opts): Float32Array {
  const [B, Tq, Tk, Hq, Hkv, D] = dims;
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const out = new Float32Array(B * Tq * Hq * D);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < Tq; i++)
      for (let h = 0; h < Hq; h++) {
        const hk = Math.floor(h / (Hq / Hkv));
        const pos = i + (o.qOffset ?? 0);
        const w: number[] = [],
          js: number[] = [];
        for (let j = 0; j < Tk; j++) {
          if (o.causal && j > pos) continue;
          if (o.window !== undefined && Math.abs(pos - j) > o.window) continue;
          if (o.mask && o.mask[b * Tk + j] === 0) continue;
          let s = 0;
          for (let e = 0; e < D; e++) s += q[((b * Tq + i) * Hq + h) * D + e] * k[((b * Tk + j) * Hkv + hk) * D + e];
          w.push(s * scale);
          js.push(j);
        }
        if (js.length === 0) continue;
        const mx = Math.max(...w);
        const p = w.map((s) => Math.exp(s - mx));
        const z = p.reduce((a, x) => a + x, 0);
        for (let e = 0; e < D; e++) {
          let acc = 0;
          for (let n = 0; n < js.length; n++) acc += p[n] * v[((b * Tk + js[n]) * Hkv + hk) * D + e];
          out[((b * Tq + i) * Hq + h) * D + e] = acc / z;
        }
      }
  return out;
}

afterAll(() => {
  native.setCpuImpl('fast');
  native.setCpuIsa('attention', 'auto');
});

// Every fast path this CPU can run (a forced path wider than the CPU resolves to something else).
const fastPaths = (['avx512', 'avx2', 'scalar'] as const).filter((n) => native.setCpuIsa('attention', n) === n);
native.setCpuIsa('attention', 'auto');

const tol = { atol: 2e-5, rtol: 2e-5, why: 'fp32 accumulation (fast path) vs double; values are O(1)' };

const specs: { name: string; dims: number[]; o: Opts; masked?: boolean }[] = [
  { name: 'decode GQA 2, D=128', dims: [2, 1, 300, 16, 8, 128], o: { causal: true, qOffset: 299 } },
  // The one-query decode path: padded rows, odd D, windows, groups of 1 / 3 / 5 heads.
  { name: 'decode padded rows GQA 3, D=40', dims: [2, 1, 70, 6, 2, 40], o: { causal: true, qOffset: 69 }, masked: true },
  { name: 'decode window 9 GQA 4, D=64', dims: [1, 1, 50, 8, 2, 64], o: { causal: true, qOffset: 49, window: 9 } },
  { name: 'decode MHA, D=16, causal cut inside the keys', dims: [2, 1, 33, 3, 3, 16], o: { causal: true, qOffset: 20 } },
  { name: 'decode GQA 5, D=8, no causal', dims: [1, 1, 20, 5, 1, 8], o: {} },
  { name: 'causal prefill GQA 5, D=8', dims: [1, 40, 40, 5, 1, 8], o: { causal: true } },
  { name: 'window 7 with mask, D=64', dims: [2, 50, 50, 2, 2, 64], o: { window: 7 }, masked: true },
  { name: 'cross-attention Tk != Tq, D=16, scale 0.5', dims: [2, 13, 77, 4, 1, 16], o: { scale: 0.5 }, masked: true },
];

describe('attention vs plain JS', () => {
  for (const impl of ['reference', ...fastPaths] as const) {
    for (const s of specs) {
      it(`${impl}: ${s.name}`, () => {
        const [B, Tq, Tk, Hq, Hkv, D] = s.dims;
        const q = normal(B * Tq * Hq * D, 1),
          k = normal(B * Tk * Hkv * D, 2),
          v = normal(B * Tk * Hkv * D, 3);
        const mask = s.masked ? Int32Array.from(randomInts(B * Tk, 4, 0, 4), (x) => (x === 0 ? 0 : 1)) : undefined;
        if (mask) for (let j = 0; j < Tk; j++) mask[j] = 0; // batch 0 fully padded -> zero rows
        const want = jsAttention(q, k, v, s.dims, { ...s.o, mask });
        if (impl === 'reference') native.setCpuImpl('reference');
        else native.setCpuIsa('attention', impl);
        const got = tidy(() => {
          const keyMask = mask ? Tensor.fromArray(mask, [B, Tk]) : undefined;
          return attention(
            Tensor.fromArray(q, [B, Tq, Hq, D]),
            Tensor.fromArray(k, [B, Tk, Hkv, D]),
            Tensor.fromArray(v, [B, Tk, Hkv, D]),
            { ...s.o, keyMask },
          ).dataSync() as Float32Array;
        });
        native.setCpuImpl('fast');
        native.setCpuIsa('attention', 'auto');
        expectClose(got, want, tol, s.name);
        if (mask) expect(got.subarray(0, Tq * Hq * D).every((x) => x === 0)).toBe(true);
      });
    }
  }
});

describe('attention at bf16 precision vs plain JS on the bf16-rounded operands', () => {
  // bf16 precision rounds q·scale, K and V to bf16 and accumulates in f32; plain JS takes the same
  // rounded values at scale 1 in double. The fast paths and the reference also round the
  // probabilities (2^-9 relative each; the f32-kernel paths on AVX2 / scalar do not), which moves
  // an output by at most 2^-9 * max|v| (< 0.01 for these N(0,1) values); measured <= 1.9e-3 (AVX-512,
  // reference), <= 4e-7 (AVX2, scalar).
  const bf16Tol = { atol: 4e-3, why: 'bf16-rounded probabilities in P·V (<= 2^-9 relative each) vs double; measured <= 1.9e-3' };
  const round = (x: Float32Array) => tidy(() => Tensor.fromArray(x, [x.length]).to('bf16').to('f32').dataSync() as Float32Array);
  for (const impl of ['reference', ...fastPaths] as const) {
    for (const s of specs) {
      it(`${impl}: ${s.name}`, () => {
        const [B, Tq, Tk, Hq, Hkv, D] = s.dims;
        const scale = s.o.scale ?? 1 / Math.sqrt(D);
        const q = normal(B * Tq * Hq * D, 21),
          k = normal(B * Tk * Hkv * D, 22),
          v = normal(B * Tk * Hkv * D, 23);
        const mask = s.masked ? Int32Array.from(randomInts(B * Tk, 24, 0, 4), (x) => (x === 0 ? 0 : 1)) : undefined;
        const want = jsAttention(round(q.map((x) => Math.fround(x * scale))), round(k), round(v), s.dims, { ...s.o, scale: 1, mask });
        if (impl === 'reference') native.setCpuImpl('reference');
        else native.setCpuIsa('attention', impl);
        const got = tidy(() => {
          const keyMask = mask ? Tensor.fromArray(mask, [B, Tk]) : undefined;
          return attention(
            Tensor.fromArray(q, [B, Tq, Hq, D]),
            Tensor.fromArray(k, [B, Tk, Hkv, D]),
            Tensor.fromArray(v, [B, Tk, Hkv, D]),
            {
              ...s.o,
              keyMask,
              precision: 'bf16',
            },
          ).dataSync() as Float32Array;
        });
        native.setCpuImpl('fast');
        native.setCpuIsa('attention', 'auto');
        expectClose(got, want, bf16Tol, s.name);
      });
    }
  }
});

describe('attention over bf16 K/V (a bf16 KV cache) vs plain JS on the same bf16 values', () => {
  // Widening bf16 to f32 is exact, so the tolerance is the f32 one; prefill shapes take f32 copies,
  // the decode shapes (Tq = 1) read the bf16 rows directly on AVX-512.
  const bf16Specs = specs.filter((s) => s.name.startsWith('decode') || s.name.startsWith('causal prefill'));
  for (const impl of ['reference', ...fastPaths] as const) {
    for (const s of bf16Specs) {
      it(`${impl}: ${s.name}`, () => {
        const [B, Tq, Tk, Hq, Hkv, D] = s.dims;
        const q = normal(B * Tq * Hq * D, 11);
        const round = (x: Float32Array) => tidy(() => Tensor.fromArray(x, [x.length]).to('bf16').to('f32').dataSync() as Float32Array);
        const k = round(normal(B * Tk * Hkv * D, 12)),
          v = round(normal(B * Tk * Hkv * D, 13));
        const mask = s.masked ? Int32Array.from(randomInts(B * Tk, 14, 0, 4), (x) => (x === 0 ? 0 : 1)) : undefined;
        const want = jsAttention(q, k, v, s.dims, { ...s.o, mask });
        if (impl === 'reference') native.setCpuImpl('reference');
        else native.setCpuIsa('attention', impl);
        const got = tidy(() => {
          const keyMask = mask ? Tensor.fromArray(mask, [B, Tk]) : undefined;
          // K/V as a narrowed view of a longer bf16 cache, as the LM passes them.
          const cache = (x: Float32Array) =>
            Tensor.zeros([B, Tk + 5, Hkv, D], 'bf16')
              .narrow(1, 0, Tk)
              .assign(Tensor.fromArray(x, [B, Tk, Hkv, D]));
          return attention(Tensor.fromArray(q, [B, Tq, Hq, D]), cache(k), cache(v), { ...s.o, keyMask }).dataSync() as Float32Array;
        });
        native.setCpuImpl('fast');
        native.setCpuIsa('attention', 'auto');
        expectClose(got, want, tol, s.name);
      });
    }
  }
  it('k and v of different dtypes are converted to f32 (same result as f32 K/V)', () => {
    tidy(() => {
      const q = Tensor.fromArray(normal(2 * 128, 15), [1, 1, 2, 128]);
      const k = Tensor.fromArray(normal(9 * 128, 16), [1, 9, 1, 128]).to('bf16');
      const v = Tensor.fromArray(normal(9 * 128, 17), [1, 9, 1, 128]);
      const a = attention(q, k, v).dataSync();
      const b = attention(q, k.to('f32'), v).dataSync();
      expect(Array.from(a)).toEqual(Array.from(b));
    });
  });
});

describe('attention contract', () => {
  it('K/V as views into a larger cache equal the same K/V passed contiguous', () => {
    tidy(() => {
      const [B, Tk, Hkv, D, cap] = [1, 21, 2, 32, 64];
      const cache = Tensor.fromArray(normal(B * cap * Hkv * D, 9), [B, cap, Hkv, D]);
      const q = Tensor.fromArray(normal(B * 4 * D, 8), [B, 1, 4, D]);
      const view = cache.narrow(1, 0, Tk);
      const a = attention(q, view, view, { causal: true, qOffset: Tk - 1 }).dataSync();
      const b = attention(q, view.contiguous(), view.contiguous(), { causal: true, qOffset: Tk - 1 }).dataSync();
      expect(Array.from(a)).toEqual(Array.from(b));
    });
  });

  it('a single visible key returns its value row exactly', () => {
    tidy(() => {
      const v = normal(5 * 16, 11);
      const out = attention(
        Tensor.fromArray(normal(5 * 16, 10), [1, 5, 1, 16]),
        Tensor.fromArray(normal(5 * 16, 12), [1, 5, 1, 16]),
        Tensor.fromArray(v, [1, 5, 1, 16]),
        { window: 0 },
      ).dataSync();
      expectClose(out, v, { atol: 1e-6, why: 'softmax over one key is exactly 1' });
    });
  });

  it('covers at least the baseline fast path', () => {
    expect(fastPaths).toContain('scalar');
  });

  it('rejects bad arguments with ShapeError', () => {
    tidy(() => {
      const q = Tensor.zeros([1, 2, 4, 8]),
        k = Tensor.zeros([1, 3, 3, 8]),
        k2 = Tensor.zeros([1, 3, 2, 8]);
      expect(() => attention(q, k, k)).toThrow(/not a multiple/);
      expect(() => attention(q, Tensor.zeros([1, 3, 2, 4]), Tensor.zeros([1, 3, 2, 4]))).toThrow(ShapeError);
      expect(() => attention(q, k2, Tensor.zeros([1, 4, 2, 8]))).toThrow(/v \[1,4,2,8\] does not match k/);
      expect(() => attention(q, k2, k2, { keyMask: Tensor.zeros([1, 2]) })).toThrow(/keyMask must be \[B, Tk\] = \[1,3\], got \[1,2\]/);
      expect(() => attention(q, k2, k2, { scale: Infinity })).toThrow(/scale must be finite/);
      expect(() => attention(q, k2, k2, { window: -1 })).toThrow(/window/);
      expect(() => attention(q, k2, k2, { precision: 'f16' as never })).toThrow(/attention: precision must be 'fp32' or 'bf16', got 'f16'/);
      expect(() => attention(Tensor.zeros([2, 4, 8]), k2, k2)).toThrow(/q must be \[B, T, H, D\]/);
    });
  });
});
