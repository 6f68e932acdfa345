// Attention benchmark: the DiT 2B self-attention (sliding window 128 and full, T = 1500, batch 2
// for CFG), its cross-attention, and LM decode (one query against a 1000-token KV cache held in
// a larger cache buffer, batch 2). Throughput counts 4*D flops per visible (query, key) pair;
// decode rows also give the K/V bytes streamed. The reference is our own scalar double-precision
// kernel (setCpuImpl('reference')), timed once per shape (no torch in this environment's bench).
import { attention, Tensor, tidy } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { ratioOf, timeQueued, wanted, type Suite } from './suite.js';

interface Shape {
  name: string;
  B: number;
  Tq: number;
  Tk: number;
  Hq: number;
  Hkv: number;
  D: number;
  window?: number;
  causal?: boolean;
  qOffset?: number;
  cache?: number;
  /** The scalar reference is timed only where one call takes seconds, not minutes. */
  timeRef: boolean;
}

function visiblePairs(s: Shape): number {
  let n = 0;
  for (let i = 0; i < s.Tq; i++) {
    const pos = i + (s.qOffset ?? 0);
    let lo = 0,
      hi = s.Tk - 1;
    if (s.causal) hi = Math.min(hi, pos);
    if (s.window !== undefined) {
      lo = Math.max(lo, pos - s.window);
      hi = Math.min(hi, pos + s.window);
    }
    n += Math.max(0, hi - lo + 1);
  }
  return n * s.B * s.Hq;
}

function shapes(quick: boolean): Shape[] {
  const dit = { B: 2, Hq: 16, Hkv: 8, D: 128 };
  const out: Shape[] = [
    { name: 'dit2b.self-window128.T1500', ...dit, Tq: 1500, Tk: 1500, window: 128, timeRef: true },
    { name: 'dit2b.cross.T1500xS400', ...dit, Tq: 1500, Tk: 400, timeRef: !quick },
    {
      name: 'lm0.6b.decode.cache1000',
      B: 2,
      Tq: 1,
      Tk: 1000,
      Hq: 16,
      Hkv: 8,
      D: 128,
      causal: true,
      qOffset: 999,
      cache: 4096,
      timeRef: true,
    },
  ];
  if (!quick) out.splice(1, 0, { name: 'dit2b.self-full.T1500', ...dit, Tq: 1500, Tk: 1500, timeRef: false });
  return out;
}

export function suites(): Suite[] {
  return [
    {
      name: 'attention',
      async run(ctx, emit) {
        for (const s of shapes(ctx.quick)) {
          if (!wanted(ctx, s.name)) continue;
          const q = Tensor.fromArray(
            new Float32Array(s.B * s.Tq * s.Hq * s.D).map((_, i) => Math.sin(i)),
            [s.B, s.Tq, s.Hq, s.D],
          );
          const len = s.cache ?? s.Tk;
          const kvBase = Tensor.fromArray(
            new Float32Array(s.B * len * s.Hkv * s.D).map((_, i) => Math.cos(i * 0.7)),
            [s.B, len, s.Hkv, s.D],
          );
          const kv = kvBase.narrow(1, 0, s.Tk);
          const opts = { window: s.window, causal: s.causal, qOffset: s.qOffset };
          const call = () => tidy(() => void attention(q, kv, kv, opts));
          const sec = timeQueued(call, ctx.minSeconds);
          const gflop = (4 * s.D * visiblePairs(s)) / 1e9;
          let ref: number | null = null;
          if (s.timeRef) {
            native.setCpuImpl('reference');
            const t0 = process.hrtime.bigint();
            call();
            native.syncBlocking();
            ref = gflop / (Number(process.hrtime.bigint() - t0) / 1e9);
            native.setCpuImpl('fast');
          }
          const kvGB = s.Tq === 1 ? (2 * s.B * s.Tk * s.Hkv * s.D * 4) / 1e9 / sec : undefined;
          emit({
            name: s.name,
            shape: `B=${s.B} Tq=${s.Tq} Tk=${s.Tk} H=${s.Hq}/${s.Hkv} D=${s.D}${s.window !== undefined ? ` w=${s.window}` : ''}`,
            dtype: 'f32',
            ours: gflop / sec,
            unit: 'GFLOP/s',
            reference: s.timeRef ? 'own scalar reference kernel (double)' : 'not timed: the scalar reference takes minutes here',
            ref,
            ratio: ratioOf(gflop / sec, ref),
            ms: sec * 1e3,
            ...(kvGB !== undefined ? { kvGBps: kvGB } : {}),
          });
          kv.dispose();
          kvBase.dispose();
          q.dispose();
        }
      },
    },
  ];
}
