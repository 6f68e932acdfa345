// Attention benchmark: the DiT 2B self-attention (sliding window 128 and full) and cross-attention
// at the bench/dit.ts shapes (375 tokens, batch 1, 256 encoder states) and at T = 1500 (batch 2
// for CFG), and LM decode (one query against a 1000-token KV cache held in a larger cache buffer,
// batch 2). Throughput counts 4*D flops per visible (query, key) pair; decode rows also give the
// K/V bytes streamed. The reference is torch's explicit softmax(Q K^T * scale + mask) V (torch 1.13
// has no fused attention; K/V are expanded to the query heads beforehand, outside the timing),
// timed in alternating rounds with ours; `ratio` compares best batch averages and `cpuRatio` CPU
// seconds per call. Without torch the reference is our own scalar double-precision kernel
// (setCpuImpl('reference')), timed once per shape. The DiT shapes also time our bf16 precision
// (vdpbf16ps QK^T / P·V on avx512_bf16 CPUs) in the same alternating rounds: a second row per
// shape (dtype 'bf16') whose `vsF32` / `cpuVsF32` compare it with the f32 row's call.
import { loadavg } from 'node:os';
import { attention, Tensor, tidy } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { oursBatch, ratioOf, timeAlternating, timeQueued, TorchWorker, wanted, type Suite } from './suite.js';

// One attention job at a time: {"op": "setup", ...shape} builds it, {"op": "time", "batch": n} runs it.
const TORCH_SCRIPT = String.raw`
import json, sys, time
import torch
torch.set_num_threads(int(sys.argv[1]))
print(json.dumps({"version": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
f = None
with torch.inference_mode():
    for line in sys.stdin:
        j = json.loads(line)
        if j["op"] == "setup":
            B, Tq, Tk, Hq, D = j["B"], j["Tq"], j["Tk"], j["Hq"], j["D"]
            q = torch.randn(B, Hq, Tq, D); k = torch.randn(B, Hq, Tk, D); v = torch.randn(B, Hq, Tk, D)
            pos = torch.arange(Tq)[:, None] + j.get("qOffset", 0); key = torch.arange(Tk)[None, :]
            hidden = torch.zeros(Tq, Tk, dtype=torch.bool)
            if j.get("causal"): hidden |= key > pos
            if j.get("window") is not None: hidden |= (pos - key).abs() > j["window"]
            mask = torch.zeros(Tq, Tk).masked_fill(hidden, float("-inf")) if bool(hidden.any()) else None
            scale = D ** -0.5
            def f():
                s = torch.matmul(q, k.transpose(-1, -2)) * scale
                if mask is not None: s = s + mask
                return torch.matmul(torch.softmax(s, -1), v)
            f()
            print(json.dumps({"ok": True}), flush=True)
        else:
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(j["batch"]):
                f()
            print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}), flush=True)
`;

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
  const dit1 = { ...dit, B: 1 };
  const out: Shape[] = [
    { name: 'dit2b.self-window128.T375', ...dit1, Tq: 375, Tk: 375, window: 128, timeRef: true },
    { name: 'dit2b.self-full.T375', ...dit1, Tq: 375, Tk: 375, timeRef: true },
    { name: 'dit2b.cross.T375xS256', ...dit1, Tq: 375, Tk: 256, timeRef: true },
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
        const torch = await TorchWorker.start(TORCH_SCRIPT, ctx.threads, 'softmax(QK^T)V');
        if (typeof torch === 'string') ctx.log(`attention: ${torch}; the reference is our scalar kernel, timed once`);
        for (const s of shapes(ctx.quick)) {
          if (!wanted(ctx, s.name)) continue;
          ctx.log(`attention: ${s.name}`);
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
          // LM decode keeps f32 attention (models pass bf16 only without a KV cache).
          const callBf16 = s.Tq > 1 ? () => tidy(() => void attention(q, kv, kv, { ...opts, precision: 'bf16' })) : null;
          const gflop = (4 * s.D * visiblePairs(s)) / 1e9;
          let sec: number,
            ref: number | null = null,
            cpu: { ours: number; ref: number } | null = null,
            bf16: { best: number; cpu: number | null } | null = null,
            reference: string;
          if (typeof torch !== 'string') {
            const { B, Tq, Tk, Hq, D, window, causal, qOffset } = s;
            await torch.request({ op: 'setup', B, Tq, Tk, Hq, D, window, causal, qOffset });
            const once = timeQueued(call, 0, 1);
            const batch = Math.max(1, Math.min(50, Math.ceil(0.02 / Math.max(once, 1e-6))));
            const torchSide = (n: number) => torch.request({ op: 'time', batch: n }) as Promise<{ wall: number; cpu: number }>;
            const sides = callBf16
              ? [async (n: number) => oursBatch(call, n), async (n: number) => oursBatch(callBf16, n), torchSide]
              : [async (n: number) => oursBatch(call, n), torchSide];
            const timings = await timeAlternating(sides, batch, ctx.minSeconds);
            const o = timings[0],
              t = timings[timings.length - 1];
            if (callBf16) bf16 = timings[1];
            sec = o.best;
            ref = gflop / t.best;
            cpu = { ours: o.cpu, ref: t.cpu };
            reference = `${torch.label}, K/V pre-expanded to the query heads, alternating rounds`;
          } else {
            sec = timeQueued(call, ctx.minSeconds);
            if (callBf16) bf16 = { best: timeQueued(callBf16, ctx.minSeconds), cpu: null };
            if (s.timeRef) {
              native.setCpuImpl('reference');
              const t0 = process.hrtime.bigint();
              call();
              native.syncBlocking();
              ref = gflop / (Number(process.hrtime.bigint() - t0) / 1e9);
              native.setCpuImpl('fast');
            }
            reference = s.timeRef ? 'own scalar reference kernel (double)' : 'not timed: the scalar reference takes minutes here';
          }
          const kvGB = s.Tq === 1 ? (2 * s.B * s.Tk * s.Hkv * s.D * 4) / 1e9 / sec : undefined;
          emit({
            name: s.name,
            shape: `B=${s.B} Tq=${s.Tq} Tk=${s.Tk} H=${s.Hq}/${s.Hkv} D=${s.D}${s.window !== undefined ? ` w=${s.window}` : ''}`,
            dtype: 'f32',
            ours: gflop / sec,
            unit: 'GFLOP/s',
            reference,
            ref,
            ratio: ratioOf(gflop / sec, ref),
            ms: sec * 1e3,
            ...(cpu ? { cpuMs: cpu.ours * 1e3, refCpuMs: cpu.ref * 1e3, cpuRatio: cpu.ref / cpu.ours } : {}),
            ...(kvGB !== undefined ? { kvGBps: kvGB } : {}),
            load1m: loadavg()[0],
          });
          if (bf16) {
            emit({
              name: s.name,
              shape: `B=${s.B} Tq=${s.Tq} Tk=${s.Tk} H=${s.Hq}/${s.Hkv} D=${s.D}${s.window !== undefined ? ` w=${s.window}` : ''}`,
              dtype: 'bf16',
              ours: gflop / bf16.best,
              unit: 'GFLOP/s',
              reference,
              ref,
              ratio: ratioOf(gflop / bf16.best, ref),
              ms: bf16.best * 1e3,
              vsF32: sec / bf16.best,
              ...(cpu && bf16.cpu !== null
                ? { cpuMs: bf16.cpu * 1e3, refCpuMs: cpu.ref * 1e3, cpuRatio: cpu.ref / bf16.cpu, cpuVsF32: cpu.ours / bf16.cpu }
                : {}),
              load1m: loadavg()[0],
            });
          }
          kv.dispose();
          kvBase.dispose();
          q.dispose();
        }
        if (typeof torch !== 'string') torch.close();
      },
    },
  ];
}
