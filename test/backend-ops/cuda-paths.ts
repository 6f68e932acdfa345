// Cases placed on the dispatch boundaries of the CUDA kernels (kernels/cuda/matmul.cu and
// attention.cu) so the harness exercises each GPU path once a device is present: bf16 weights read
// in place by the tensor-core GEMM, the 64- and 128-row tile variants with packed operands and a
// K that needs zero padding, the GEMV with a K tail and an aligned strided weight, the fp32 tiles'
// edges, head dim 256 (shared memory above 48 KiB), and split-K decode with many chunks and with
// the scalar (non-float4) K path. On the CPU they are ordinary extra coverage.
import { attention, linear, matmul, Tensor, type Device, type DType } from '../../src/runtime/index.js';
import { normal } from '../support/random.js';
import type { OpCase, Tolerance } from './harness.js';

export const cases: OpCase[] = [];

// Same reasoning as matmul.ts: f32 sums over K against a double-precision reference.
function gemmTol(K: number, bf16: boolean): Tolerance {
  return {
    atol: 1e-5 + 3e-7 * K,
    rtol: 1e-5,
    why: `${bf16 ? 'operands rounded to bf16 on both sides (products exact); ' : ''}f32 accumulation over K=${K} vs double`,
  };
}
const attnTol: Tolerance = { atol: 2e-5, rtol: 2e-5, why: 'fp32 dot products and online softmax vs a double-precision reference' };

function tensor(shape: number[], seed: number, device: Device, std = 1, dtype: DType = 'f32'): Tensor {
  const t = Tensor.fromArray(
    normal(
      shape.reduce((a, b) => a * b, 1),
      seed,
      std,
    ),
    shape,
    { device },
  );
  return dtype === 'f32' ? t : t.to(dtype);
}

cases.push({
  op: 'linear',
  name: 'cuda paths: bf16 GEMM, bf16 weights in place (K=256), M=100 N=200 +bias',
  tol: gemmTol(256, true),
  run: (device) =>
    linear(tensor([100, 256], 500, device), tensor([200, 256], 501, device, 1 / 16, 'bf16'), tensor([200], 502, device), {
      precision: 'bf16',
    }),
});

cases.push({
  op: 'matmul',
  name: 'cuda paths: bf16 batched 128-row tiles, K=27 padded [66,200,27] x [66,27,130]',
  tol: gemmTol(27, true),
  run: (device) => matmul(tensor([66, 200, 27], 503, device), tensor([66, 27, 130], 504, device, 0.19), { precision: 'bf16' }),
});

cases.push({
  op: 'linear',
  name: 'cuda paths: fp32 tiles across the 64 edge, M=65 K=70 N=129 f16 weights',
  tol: gemmTol(70, false),
  run: (device) => linear(tensor([65, 70], 505, device), tensor([129, 70], 506, device, 0.12, 'f16')),
});

for (const [wd, precision] of [
  ['bf16', 'bf16'],
  ['f16', 'fp32'],
  ['f32', 'fp32'],
] as [DType, 'bf16' | 'fp32'][]) {
  cases.push({
    op: 'linear',
    name: `cuda paths: GEMV M=4 K=1030 (tail) from a weight view with row stride 1040, w=${wd} precision ${precision}`,
    tol: gemmTol(1030, precision === 'bf16'),
    run: (device) => {
      const w = tensor([37, 1040], 507, device, 0.03, wd).narrow(1, 0, 1030);
      return linear(tensor([4, 1030], 508, device), w, tensor([37], 509, device), { precision });
    },
  });
}

// N large enough that the GEMV gives each warp four weight rows (N / 32 >= 2 x SMs up to 140
// SMs), with N % 4 = 2 so the last warp has a partial group.
cases.push({
  op: 'linear',
  name: 'cuda paths: GEMV four rows per warp M=3 K=72 N=9002 w=bf16 +bias',
  tol: gemmTol(72, false),
  run: (device) => linear(tensor([3, 72], 510, device), tensor([9002, 72], 511, device, 0.12, 'bf16'), tensor([9002], 512, device)),
});

function attn(
  device: Device,
  seed: number,
  B: number,
  Tq: number,
  Tk: number,
  Hq: number,
  Hkv: number,
  D: number,
  causal: boolean,
  cacheLen = Tk,
): Tensor {
  const q = tensor([B, Tq, Hq, D], seed, device);
  const k = tensor([B, cacheLen, Hkv, D], seed + 1, device).narrow(1, 0, Tk);
  const v = tensor([B, cacheLen, Hkv, D], seed + 2, device).narrow(1, 0, Tk);
  return attention(q, k, v, { causal, qOffset: Tq === 1 ? Tk - 1 : 0 });
}

cases.push({
  op: 'attention',
  name: 'cuda paths: head dim 256 causal prefill Tq=40 G=2',
  tol: attnTol,
  run: (device) => attn(device, 520, 1, 40, 40, 2, 1, 256, true),
});
cases.push({
  op: 'attention',
  name: 'cuda paths: head dim 256 decode Tk=600 (split-K)',
  tol: attnTol,
  run: (device) => attn(device, 530, 2, 1, 600, 2, 1, 256, true, 640),
});
cases.push({
  op: 'attention',
  name: 'cuda paths: decode Tk=2000 B=1 H=2/1 D=128 (many chunks)',
  tol: attnTol,
  run: (device) => attn(device, 540, 1, 1, 2000, 2, 1, 128, true, 2048),
});
cases.push({
  op: 'attention',
  name: 'cuda paths: decode Tk=700 D=30 (scalar K loads)',
  tol: attnTol,
  run: (device) => attn(device, 550, 2, 1, 700, 4, 2, 30, true, 701),
});
