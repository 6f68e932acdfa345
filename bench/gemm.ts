// GEMM/GEMV benchmark suite: the linear-layer shapes of the 5 Hz LM (Qwen3 0.6B / 1.7B: decode
// with 1 and 2 rows, prefill with 128) and of the DiT (2B: 375 / 1500 / 3000 tokens), f32 and bf16
// weights. Reference: PyTorch's F.linear on the same shapes and dtypes, run by /usr/bin/python3 in
// the same bench run with the same thread count; when torch cannot be imported the reference is our
// own portable (scalar, cache-blocked) kernel and a line says so. GEMV rows compare the decode
// weight stream with a plain streaming read of the same bytes; a peak row measures the FMA peak.
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { linear, Tensor } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { ratioOf, timeInterleaved, timeQueued, wanted, type BenchContext, type BenchRow, type Suite } from './suite.js';

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

// Times F.linear for every job and prints {id, seconds} per line; the job list arrives on stdin.
const TORCH_SCRIPT = String.raw`
import json, sys, time
import torch
import torch.nn.functional as F
jobs = json.load(sys.stdin)
torch.set_num_threads(int(sys.argv[1]))
min_s = float(sys.argv[2])
print(json.dumps({"version": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
with torch.inference_mode():
    for j in jobs:
        dt = torch.float32 if j["dtype"] == "f32" else torch.bfloat16
        x = torch.full((j["M"], j["K"]), 0.5, dtype=dt)
        w = torch.full((j["N"], j["K"]), 0.01, dtype=dt)
        F.linear(x, w)
        best, spent, rounds = float("inf"), 0.0, 0
        while rounds < 2 or (rounds < 5 and spent < 3) or spent < min_s:
            t0 = time.perf_counter()
            F.linear(x, w)
            d = time.perf_counter() - t0
            best = min(best, d); spent += d; rounds += 1
        print(json.dumps({"id": j["id"], "seconds": best}), flush=True)
        del x, w
`;

interface TorchResult {
  label: string;
  times: Map<string, number>;
  why?: string;
}

function runTorch(jobs: { id: string; M: number; K: number; N: number; dtype: string }[], ctx: BenchContext): TorchResult {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync('/usr/bin/python3', ['-c', TORCH_SCRIPT, String(ctx.threads), String(ctx.minSeconds)], {
    input: JSON.stringify(jobs),
    env,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const times = new Map<string, number>();
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr || '').trim().split('\n').slice(-1)[0];
    return { label: '', times, why: `torch reference unavailable (${why || `exit ${r.status}`})` };
  }
  const lines = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  const head = lines.shift() as { version: string; threads: number };
  for (const l of lines) times.set(l.id, l.seconds);
  return { label: `torch ${head.version} F.linear, ${head.threads} thr`, times };
}

function makeInputs(s: Shape, wd: 'f32' | 'bf16') {
  // Values do not change the kernels' speed; fills keep setup fast even for the 0.9 GB lm_head.
  const x = Tensor.full([s.M, s.K], 0.5, 'f32');
  const wf = Tensor.full([s.N, s.K], 0.01, 'f32');
  const w = wd === 'f32' ? wf : wf.to(wd);
  if (w !== wf) wf.dispose();
  return { x, w };
}

function timeLinear(x: Tensor, w: Tensor, precision: 'fp32' | 'bf16', ctx: BenchContext): number {
  const call = () => linear(x, w, null, { precision }).dispose();
  // Small products are issued in batches so queue round trips do not dominate.
  const once = timeQueued(call, 0, 1);
  const batch = Math.max(1, Math.min(50, Math.ceil(0.02 / Math.max(once, 1e-6))));
  return timeQueued(call, ctx.minSeconds, batch);
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

        const jobs = shapes.flatMap((s) =>
          (['f32', 'bf16'] as const).map((dtype) => ({ id: `${s.name}|${dtype}`, M: s.M, K: s.K, N: s.N, dtype })),
        );
        ctx.log(`gemm: timing torch on ${jobs.length} jobs`);
        const torch = runTorch(jobs, ctx);
        if (torch.why) ctx.log(`gemm: ${torch.why}; the reference is our portable scalar-blocked kernel (setCpuIsa('gemm', 'scalar'))`);

        const refTime = (s: Shape, wd: 'f32' | 'bf16', x: Tensor, w: Tensor, precision: 'fp32' | 'bf16'): [number | null, string] => {
          if (!torch.why) {
            const t = torch.times.get(`${s.name}|${wd}`);
            return [t === undefined ? null : t, `${torch.label} ${wd}`];
          }
          native.syncBlocking();
          native.setCpuIsa('gemm', 'scalar');
          try {
            return [timeLinear(x, w, precision, ctx), 'our portable scalar-blocked kernel (torch unavailable)'];
          } finally {
            native.syncBlocking();
            native.setCpuIsa('gemm', 'auto');
          }
        };

        for (const s of shapes) {
          for (const wd of ['f32', 'bf16'] as const) {
            ctx.log(`gemm: ${s.name} ${wd}`);
            const { x, w } = makeInputs(s, wd);
            const precision = wd === 'bf16' ? 'bf16' : 'fp32';
            const t = timeLinear(x, w, precision, ctx);
            const [rt, rlabel] = refTime(s, wd, x, w, precision);
            const gf = flops(s) / t / 1e9;
            const rgf = rt === null ? null : flops(s) / rt / 1e9;
            const row: BenchRow = {
              name: s.name,
              shape: shapeStr(s),
              dtype: wd === 'bf16' ? 'bf16' : 'f32',
              ours: gf,
              unit: 'GFLOP/s',
              reference: rlabel,
              ref: rgf,
              ratio: ratioOf(gf, rgf),
              precision,
              ms: t * 1e3,
              peakFraction: gf / peak,
              load1m: loadavg()[0],
            };
            if (wanted(ctx, s.name)) emit(row);
            if (wd === 'bf16' && wanted(ctx, s.name)) {
              // The default path: bf16 weights upcast exactly, fp32 activations and accumulation.
              const t32 = timeLinear(x, w, 'fp32', ctx);
              const g32 = flops(s) / t32 / 1e9;
              emit({
                ...row,
                dtype: 'bf16w-fp32',
                ours: g32,
                ratio: ratioOf(g32, rgf),
                precision: 'fp32',
                ms: t32 * 1e3,
                peakFraction: g32 / peak,
              });
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
      },
    },
  ];
}
