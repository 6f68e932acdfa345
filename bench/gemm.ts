// GEMM/GEMV benchmark suite: the linear-layer shapes of the 5 Hz LM (Qwen3 0.6B / 1.7B: decode
// with 1 and 2 rows, prefill with 128) and of the DiT (2B: 375 / 1500 / 3000 tokens), f32 and bf16
// weights. Reference: PyTorch's F.linear on the same shapes and dtypes, run by a /usr/bin/python3
// worker with the same thread count; when torch cannot be imported the reference is our own
// portable (scalar, cache-blocked) kernel and a line says so. Ours and the reference are timed in
// alternating rounds of the same batch size (one shape at a time, neither runs while the other is
// timed), so both see the same background load; `ratio` compares their best batch averages and
// `cpuRatio` their process CPU seconds per call. GEMV rows compare the decode weight stream with a
// plain streaming read of the same bytes; a peak row measures the FMA peak. With bf16 weights and
// M >= 16 a `w8a8` row times the int8 W8A8 linear (the `w8a8_dynamic` quantization) in the same
// alternating rounds, beside our bf16 product and torch's.
import { loadavg } from 'node:os';
import { int8RowSums, linear, linearW8A8, quantizeInt8, Tensor, type W8A8Weight } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import {
  oursBatch,
  ratioOf,
  timeAlternating,
  timeInterleaved,
  timeQueued,
  TorchWorker,
  wanted,
  type BenchRow,
  type Side,
  type Suite,
  type Timing,
} from './suite.js';

interface Shape {
  name: string;
  M: number;
  K: number;
  N: number;
}

function lmShapes(model: string, h: number, inter: number, qOut: number, kvOut: number, vocab: number, quick: boolean): Shape[] {
  const proj: [string, number, number][] = [
    ['q', h, qOut],
    ['k/v', h, kvOut],
    ['o', qOut, h],
    ['gate/up', h, inter],
    ['down', inter, h],
  ];
  const out: Shape[] = [];
  for (const [phase, M] of [
    ['decode1', 1],
    ['decode2', 2],
    ['prefill128', 128],
  ] as [string, number][]) {
    for (const [p, K, N] of proj) out.push({ name: `${model}.${p}.${phase}`, M, K, N });
    // Only the last position's logits are needed, so lm_head runs at decode sizes only.
    if (M <= 2 && !(quick && M === 2)) out.push({ name: `${model}.lm_head.${phase}`, M, K: h, N: vocab });
  }
  return out;
}

function allShapes(quick: boolean): Shape[] {
  const s = lmShapes('lm0.6b', 1024, 3072, 2048, 1024, 217204, quick);
  if (!quick) s.push(...lmShapes('lm1.7b', 2048, 6144, 2048, 1024, 217204, quick));
  for (const T of quick ? [375] : [375, 1500, 3000]) {
    s.push({ name: `dit2b.attn-proj.T${T}`, M: T, K: 2048, N: 2048 });
    s.push({ name: `dit2b.mlp-up.T${T}`, M: T, K: 2048, N: 6144 });
    s.push({ name: `dit2b.mlp-down.T${T}`, M: T, K: 6144, N: 2048 });
  }
  return s;
}

const shapeStr = (s: Shape) => `M=${s.M} K=${s.K} N=${s.N}`;
const flops = (s: Shape) => 2 * s.M * s.K * s.N;

// A worker that holds one F.linear job at a time: {"op": "setup", M, K, N, dtype} builds and warms
// it, {"op": "time", "batch": n} runs n calls and answers the wall and process CPU seconds.
const TORCH_SCRIPT = String.raw`
import json, sys, time
import torch
import torch.nn.functional as F
torch.set_num_threads(int(sys.argv[1]))
print(json.dumps({"version": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
x = w = None
with torch.inference_mode():
    for line in sys.stdin:
        j = json.loads(line)
        if j["op"] == "setup":
            dt = torch.float32 if j["dtype"] == "f32" else torch.bfloat16
            x = w = None
            x = torch.full((j["M"], j["K"]), 0.5, dtype=dt)
            w = torch.full((j["N"], j["K"]), 0.01, dtype=dt)
            F.linear(x, w)
            print(json.dumps({"ok": True}), flush=True)
        else:
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(j["batch"]):
                F.linear(x, w)
            print(json.dumps({"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}), flush=True)
`;

function makeInputs(s: Shape, wd: 'f32' | 'bf16') {
  // Values do not change the kernels' speed; fills keep setup fast even for the 0.9 GB lm_head.
  const x = Tensor.full([s.M, s.K], 0.5, 'f32');
  const wf = Tensor.full([s.N, s.K], 0.01, 'f32');
  const w = wd === 'f32' ? wf : wf.to(wd);
  if (w !== wf) wf.dispose();
  return { x, w };
}

function w8a8(w: Tensor): W8A8Weight {
  const { q, scale } = quantizeInt8(w);
  return { q, scale, rowsum: int8RowSums(q) };
}

/** Calls per timed batch: small products are batched so queue round trips do not dominate. */
function batchFor(call: () => void): number {
  const once = timeQueued(call, 0, 1);
  return Math.max(1, Math.min(50, Math.ceil(0.02 / Math.max(once, 1e-6))));
}

export function suites(): Suite[] {
  return [
    {
      name: 'gemm',
      async run(ctx, emit) {
        const shapes = allShapes(ctx.quick).filter((s) => wanted(ctx, s.name) || wanted(ctx, `${s.name}.gemv-bw`));
        const peakT = Tensor.empty([1], 'f32');
        native.peakGflops(peakT.desc(), ctx.quick ? 0.2 : 0.5, '');
        const peak = (peakT.dataSync() as Float32Array)[0];
        peakT.dispose();
        const feats = native.cpuFeatures();
        emit({
          name: 'peak.fma-f32',
          shape: `${ctx.threads} threads`,
          dtype: 'f32',
          ours: peak,
          unit: 'GFLOP/s',
          reference: 'register-only FMA loop (our fp32 peak)',
          ref: null,
          ratio: null,
          avx512bf16: feats.avx512bf16,
          bf16Kernel: native.setCpuIsa('gemm', 'auto') === 'avx512bf16' ? 'vdpbf16ps' : 'f32 FMA on bf16-rounded operands',
          load1m: loadavg()[0],
        });

        const torch = await TorchWorker.start(TORCH_SCRIPT, ctx.threads, 'F.linear');
        if (typeof torch === 'string')
          ctx.log(`gemm: ${torch}; the reference is our portable scalar-blocked kernel (setCpuIsa('gemm', 'scalar'))`);

        // The reference side for the current inputs: a torch batch, or our scalar kernel's.
        const refSide = (x: Tensor, w: Tensor, precision: 'fp32' | 'bf16'): Side => {
          if (typeof torch !== 'string')
            return async (batch) => torch.request({ op: 'time', batch }) as Promise<{ wall: number; cpu: number }>;
          return async (batch) => {
            native.syncBlocking();
            native.setCpuIsa('gemm', 'scalar');
            try {
              return oursBatch(() => linear(x, w, null, { precision }).dispose(), batch);
            } finally {
              native.setCpuIsa('gemm', 'auto');
            }
          };
        };
        const refLabel = (wd: string) =>
          typeof torch !== 'string' ? `${torch.label} ${wd}, alternating rounds` : 'our portable scalar-blocked kernel (torch unavailable)';

        for (const s of shapes) {
          for (const wd of ['f32', 'bf16'] as const) {
            ctx.log(`gemm: ${s.name} ${wd}`);
            const { x, w } = makeInputs(s, wd);
            const precision = wd === 'bf16' ? 'bf16' : 'fp32';
            if (wanted(ctx, s.name)) {
              if (typeof torch !== 'string') await torch.request({ op: 'setup', M: s.M, K: s.K, N: s.N, dtype: wd });
              const main = () => linear(x, w, null, { precision }).dispose();
              // bf16 weights also run the default path: upcast exactly, fp32 activations and accumulation.
              const upcast = () => linear(x, w, null, { precision: 'fp32' }).dispose();
              const batch = batchFor(main);
              const sides: Side[] = [async (n) => oursBatch(main, n)];
              if (wd === 'bf16') sides.push(async (n) => oursBatch(upcast, n));
              const q = wd === 'bf16' && s.M >= 16 ? w8a8(w) : null;
              if (q) sides.push(async (n) => oursBatch(() => linearW8A8(x, q).dispose(), n));
              sides.push(refSide(x, w, precision));
              const timings = await timeAlternating(sides, batch, ctx.minSeconds);
              const ref = timings[timings.length - 1];
              const rgf = flops(s) / ref.best / 1e9;
              const rowOf = (t: Timing, dtype: string, prec: 'fp32' | 'bf16'): BenchRow => {
                const gf = flops(s) / t.best / 1e9;
                return {
                  name: s.name,
                  shape: shapeStr(s),
                  dtype,
                  ours: gf,
                  unit: 'GFLOP/s',
                  reference: refLabel(wd),
                  ref: rgf,
                  ratio: ratioOf(gf, rgf),
                  precision: prec,
                  ms: t.best * 1e3,
                  cpuMs: t.cpu * 1e3,
                  refCpuMs: ref.cpu * 1e3,
                  cpuRatio: t.cpu > 0 ? ref.cpu / t.cpu : null,
                  peakFraction: gf / peak,
                  load1m: loadavg()[0],
                };
              };
              emit(rowOf(timings[0], wd, precision));
              if (wd === 'bf16') emit(rowOf(timings[1], 'bf16w-fp32', 'fp32'));
              if (q) {
                emit({ ...rowOf(timings[2], 'w8a8', precision), vsOurBf16: timings[0].best / timings[2].best });
                for (const t of [q.q, q.scale, q.rowsum]) t.dispose();
              }
            }
            if (s.M <= 4 && wanted(ctx, `${s.name}.gemv-bw`)) {
              // Decode streams the weights once: compare with a plain read of the same bytes.
              const bytes = s.N * s.K * (wd === 'f32' ? 4 : 2);
              const sink = Tensor.empty([1], 'f32');
              const batch = Math.max(1, Math.min(50, Math.ceil(2e8 / bytes)));
              const [tg, ts] = timeInterleaved(
                [() => linear(x, w, null).dispose(), () => native.streamRead(w.desc(), sink.desc())],
                ctx.minSeconds,
                batch,
              );
              sink.dispose();
              emit({
                name: `${s.name}.gemv-bw`,
                shape: shapeStr(s),
                dtype: wd,
                ours: bytes / tg / 1e9,
                unit: 'GB/s',
                reference: 'streamRead: plain SIMD sum over the same weight bytes (alternating batches)',
                ref: bytes / ts / 1e9,
                ratio: ts / tg,
                weightBytes: bytes,
                load1m: loadavg()[0],
              });
            }
            x.dispose();
            w.dispose();
          }
        }
        if (typeof torch !== 'string') torch.close();
      },
    },
  ];
}
