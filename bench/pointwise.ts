// Pointwise benchmark: the elementwise / norm / RoPE / softmax / reduction / embedding ops at the
// shapes the DiT 2B (B=2 with CFG, T=750 frames at hidden 2048, 16 heads of 128) and the LM (vocab
// 151669, hidden 1024) use. Throughput is bytes read + written per second; the reference is our
// own scalar kernel (setCpuImpl('reference')) timed once, as no torch is available in this bench.
import {
  add,
  embedding,
  gatedAdd,
  layerNorm,
  modulate,
  rmsNorm,
  rope,
  ropeTables,
  silu,
  softmax,
  sum,
  swiglu,
  Tensor,
  tidy,
} from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { ratioOf, timeQueued, wanted, type Suite } from './suite.js';

function filled(shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = Math.sin(i * 0.37 + seed) * 3;
  return Tensor.fromArray(d, shape);
}

interface Case {
  name: string;
  shape: string;
  bytes: number;
  setup(): { call: () => void; free: () => void };
}

function cases(quick: boolean): Case[] {
  const T = quick ? 250 : 750,
    C = 2048,
    F = 6144,
    B = 2,
    H = 16,
    D = 128,
    V = 151669;
  const act = B * T * C * 4;
  return [
    {
      name: 'add.bias',
      shape: `[${B},${T},${C}]+[${C}]`,
      bytes: 2 * act,
      setup() {
        const x = filled([B, T, C], 1),
          b = filled([C], 2);
        return { call: () => tidy(() => void add(x, b)), free: () => [x, b].forEach((t) => t.dispose()) };
      },
    },
    {
      name: 'silu',
      shape: `[${B},${T},${C}]`,
      bytes: 2 * act,
      setup() {
        const x = filled([B, T, C], 1);
        return { call: () => tidy(() => void silu(x)), free: () => x.dispose() };
      },
    },
    {
      name: 'swiglu',
      shape: `[${B},${T},${F}]`,
      bytes: 3 * B * T * F * 4,
      setup() {
        const g = filled([B, T, F], 1),
          u = filled([B, T, F], 2);
        return { call: () => tidy(() => void swiglu(g, u)), free: () => [g, u].forEach((t) => t.dispose()) };
      },
    },
    {
      name: 'modulate',
      shape: `[${B},${T},${C}] [${B},1,${C}]`,
      bytes: 2 * act,
      setup() {
        const x = filled([B, T, C], 1),
          s = filled([B, 1, C], 2),
          c = filled([B, 1, C], 3);
        return { call: () => tidy(() => void modulate(x, s, c)), free: () => [x, s, c].forEach((t) => t.dispose()) };
      },
    },
    {
      name: 'gatedAdd',
      shape: `[${B},${T},${C}] [${B},1,${C}]`,
      bytes: 3 * act,
      setup() {
        const x = filled([B, T, C], 1),
          y = filled([B, T, C], 2),
          g = filled([B, 1, C], 3);
        return { call: () => tidy(() => void gatedAdd(x, y, g)), free: () => [x, y, g].forEach((t) => t.dispose()) };
      },
    },
    {
      name: 'rmsNorm.hidden',
      shape: `[${B * T},${C}]`,
      bytes: 2 * act,
      setup() {
        const x = filled([B * T, C], 1),
          w = filled([C], 2);
        return { call: () => tidy(() => void rmsNorm(x, w, 1e-6)), free: () => [x, w].forEach((t) => t.dispose()) };
      },
    },
    {
      name: 'rmsNorm.qk-head',
      shape: `[${B},${T},${H},${D}]`,
      bytes: 2 * act,
      setup() {
        const x = filled([B, T, H, D], 1),
          w = filled([D], 2);
        return { call: () => tidy(() => void rmsNorm(x, w, 1e-6)), free: () => [x, w].forEach((t) => t.dispose()) };
      },
    },
    {
      name: 'layerNorm',
      shape: `[${B * T},${C}]`,
      bytes: 2 * act,
      setup() {
        const x = filled([B * T, C], 1),
          w = filled([C], 2);
        return { call: () => tidy(() => void layerNorm(x, w, w, 1e-5)), free: () => [x, w].forEach((t) => t.dispose()) };
      },
    },
    {
      name: 'rope',
      shape: `[${B},${T},${H},${D}]`,
      bytes: 2 * act,
      setup() {
        const x = filled([B, T, H, D], 1);
        const { cos, sin } = ropeTables(
          Array.from({ length: T }, (_, i) => i),
          D,
          1e6,
        );
        return { call: () => tidy(() => void rope(x, cos, sin)), free: () => [x, cos, sin].forEach((t) => t.dispose()) };
      },
    },
    {
      name: 'softmax.vocab',
      shape: `[${B},${V}]`,
      bytes: 2 * B * V * 4,
      setup() {
        const x = filled([B, V], 1);
        return { call: () => tidy(() => void softmax(x)), free: () => x.dispose() };
      },
    },
    {
      name: 'sum.lastdim',
      shape: `[${B * T},${C}]`,
      bytes: act,
      setup() {
        const x = filled([B * T, C], 1);
        return { call: () => tidy(() => void sum(x, -1)), free: () => x.dispose() };
      },
    },
    {
      name: 'embedding.prefill',
      shape: `V=${V} H=1024 ids=512`,
      bytes: 2 * 512 * 1024 * 4,
      setup() {
        const w = filled([V, 1024], 1);
        const ids = Tensor.fromArray(
          new Int32Array(512).map((_, i) => (i * 7919) % V),
          [512],
        );
        return { call: () => tidy(() => void embedding(w, ids)), free: () => [w, ids].forEach((t) => t.dispose()) };
      },
    },
  ];
}

export function suites(): Suite[] {
  return [
    {
      name: 'pointwise',
      async run(ctx, emit) {
        for (const c of cases(ctx.quick)) {
          const name = `pointwise.${c.name}`;
          if (!wanted(ctx, name)) continue;
          const { call, free } = c.setup();
          try {
            const sec = timeQueued(call, ctx.minSeconds, 4);
            native.setCpuImpl('reference');
            let refSec: number;
            try {
              refSec = timeQueued(call, 0, 1);
            } finally {
              native.setCpuImpl('fast');
            }
            const ours = c.bytes / sec / 1e9,
              ref = c.bytes / refSec / 1e9;
            emit({
              name,
              shape: c.shape,
              dtype: 'f32',
              ours,
              unit: 'GB/s',
              reference: 'our scalar reference kernel',
              ref,
              ratio: ratioOf(ours, ref),
            });
          } finally {
            free();
          }
        }
      },
    },
  ];
}
