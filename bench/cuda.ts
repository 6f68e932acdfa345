// GPU benchmark suites (run only where cudaInfo().available): our CUDA kernels at the model shapes
// beside PyTorch on the same GPU when /usr/bin/python3 has torch with CUDA.
//  - cuda-gemm: linear TFLOP/s with bf16 weights (precision 'bf16': tensor cores) and f32 weights
//    (exact fp32, no TF32) at the LM decode / prefill and DiT 88 s / 240 s shapes; torch F.linear.
//  - cuda-attention: flash prefill at the DiT shapes and split-K decode at the LM cache sizes;
//    torch scaled_dot_product_attention.
//  - cuda-lm-decode: one decode step of the Qwen3 0.6B / 1.7B layer stack at batch 2 + CFG (4 rows)
//    with random bf16 weights (q/k/v/o, gate/up/down per layer, attention over a 1024-key cache,
//    the LM head), as tokens/s next to the HBM bound (weight bytes / measured copy bandwidth).
//  - cuda-dit / cuda-vae: the DiT 8-step turbo loop (8 forwards) for 88 s and 240 s, and one VAE
//    decode of 88 s, with random weights on the GPU.
// GPU work is asynchronous; every timing ends with a one-element device-to-host read, which waits
// for the stream, so the queue's own sync (host side only) is never taken as kernel completion.
import { spawnSync } from 'node:child_process';
import { AceStepDiT } from '../src/models/dit.js';
import { parseAceStepConfig } from '../src/models/acestep-config.js';
import { attention, cudaInfo, linear, randn, setBackend, Tensor, tidy } from '../src/runtime/index.js';
import { randomWeights } from './dit.js';
import { OFFICIAL_VAE, randomVae } from './vae.js';
import { ratioOf, wanted, type BenchContext, type BenchRow, type Suite } from './suite.js';

/** Waits for the GPU: reads one element of `t` back to the host. */
function gpuSync(t: Tensor): void {
  t.reshape([-1]).narrow(0, 0, 1).dataSync();
}

/** Best seconds per call of `fn` (which returns a tensor to wait on) over at least `minSeconds`. */
function timeGpu(fn: () => Tensor, minSeconds: number, batch = 10): number {
  tidy(() => gpuSync(fn()));
  let best = Infinity,
    spent = 0,
    rounds = 0;
  while (rounds < 3 || (spent < minSeconds && rounds < 50)) {
    const t0 = performance.now();
    tidy(() => {
      let last: Tensor | null = null;
      for (let i = 0; i < batch; i++) last = fn();
      gpuSync(last!);
    });
    const s = (performance.now() - t0) / 1000;
    best = Math.min(best, s / batch);
    spent += s;
    rounds++;
  }
  return best;
}

interface TorchJob {
  id: string;
  kind: 'linear' | 'sdpa' | 'copy';
  [k: string]: unknown;
}

// Times each job on torch CUDA with events; prints {id, seconds} per line.
const TORCH_SCRIPT = String.raw`
import json, sys
import torch
import torch.nn.functional as F
jobs = json.load(sys.stdin)
if not torch.cuda.is_available():
    print(json.dumps({"error": "torch has no CUDA device"})); sys.exit(0)
print(json.dumps({"version": torch.__version__, "device": torch.cuda.get_device_name(0)}), flush=True)
def timeit(fn, reps=20):
    fn(); torch.cuda.synchronize()
    best = float("inf")
    for _ in range(5):
        a = torch.cuda.Event(enable_timing=True); b = torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(reps): fn()
        b.record(); torch.cuda.synchronize()
        best = min(best, a.elapsed_time(b) / 1000 / reps)
    return best
torch.backends.cuda.matmul.allow_tf32 = False
with torch.inference_mode():
    for j in jobs:
        if j["kind"] == "linear":
            dt = torch.bfloat16 if j["dtype"] == "bf16" else torch.float32
            x = torch.randn(j["M"], j["K"], device="cuda", dtype=dt)
            w = torch.randn(j["N"], j["K"], device="cuda", dtype=dt)
            s = timeit(lambda: F.linear(x, w))
        elif j["kind"] == "sdpa":
            B, Tq, Tk, Hq, Hkv, D = j["B"], j["Tq"], j["Tk"], j["Hq"], j["Hkv"], j["D"]
            q = torch.randn(B, Hq, Tq, D, device="cuda")
            k = torch.randn(B, Hkv, Tk, D, device="cuda").repeat_interleave(Hq // Hkv, 1)
            v = torch.randn(B, Hkv, Tk, D, device="cuda").repeat_interleave(Hq // Hkv, 1)
            s = timeit(lambda: F.scaled_dot_product_attention(q, k, v))
        else:
            a = torch.empty(j["bytes"] // 4, device="cuda"); b = torch.empty_like(a)
            s = timeit(lambda: b.copy_(a))
        print(json.dumps({"id": j["id"], "seconds": s}), flush=True)
`;

function torchTimes(jobs: TorchJob[], ctx: BenchContext): { label: string; times: Map<string, number> } {
  const times = new Map<string, number>();
  const r = spawnSync('/usr/bin/python3', ['-c', TORCH_SCRIPT], { input: JSON.stringify(jobs), encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0 || !r.stdout) {
    ctx.log(`torch reference unavailable: ${(r.stderr || r.error?.message || 'no output').split('\n').slice(-2).join(' ')}`);
    return { label: 'torch unavailable', times };
  }
  let label = 'torch';
  for (const line of r.stdout.trim().split('\n')) {
    const o = JSON.parse(line);
    if (o.error) ctx.log(`torch reference unavailable: ${o.error}`);
    if (o.version) label = `torch ${o.version} on ${o.device}`;
    if (o.id) times.set(o.id, o.seconds);
  }
  return { label, times };
}

const ITEM_SIZE = { bf16: 2, f32: 4 } as const;

function randWeight(shape: number[], dtype: 'bf16' | 'f32', seed: number): Tensor {
  return tidy(() => {
    const w = randn(shape, seed, { device: 'cuda' });
    return dtype === 'f32' ? w : w.to(dtype);
  });
}

function gemmShapes(quick: boolean): { name: string; M: number; K: number; N: number }[] {
  const out: { name: string; M: number; K: number; N: number }[] = [];
  const lm: [string, number, number][] = [
    ['0.6b', 1024, 3072],
    ['1.7b', 2048, 6144],
  ];
  for (const [size, h, inter] of quick ? lm.slice(0, 1) : lm) {
    for (const [phase, M] of [
      ['decode4', 4],
      ['prefill512', 512],
    ] as [string, number][]) {
      out.push({ name: `lm${size}.qkv.${phase}`, M, K: h, N: 4096 });
      out.push({ name: `lm${size}.gate-up.${phase}`, M, K: h, N: 2 * inter });
      out.push({ name: `lm${size}.down.${phase}`, M, K: inter, N: h });
    }
    out.push({ name: `lm${size}.lm_head.decode4`, M: 4, K: h, N: 217204 });
  }
  // 88 s -> 2200 latent frames -> 1100 tokens; 240 s -> 3000 tokens; batch 2 + CFG doubles rows.
  for (const T of quick ? [2200] : [2200, 6000]) {
    out.push({ name: `dit2b.attn-proj.T${T}`, M: T, K: 2048, N: 2048 });
    out.push({ name: `dit2b.mlp-up.T${T}`, M: T, K: 2048, N: 6144 });
    out.push({ name: `dit2b.mlp-down.T${T}`, M: T, K: 6144, N: 2048 });
  }
  return out;
}

async function gemmSuite(ctx: BenchContext, emit: (r: BenchRow) => void): Promise<void> {
  const jobs: TorchJob[] = [];
  const rows: { id: string; name: string; shape: string; dtype: string; flops: number; sec: number }[] = [];
  for (const s of gemmShapes(ctx.quick)) {
    for (const dtype of ['bf16', 'f32'] as const) {
      const id = `${s.name}.${dtype}`;
      if (!wanted(ctx, `cuda.gemm.${id}`)) continue;
      const x = randn([s.M, s.K], 1, { device: 'cuda' });
      const w = randWeight([s.N, s.K], dtype, 2);
      const precision = dtype === 'bf16' ? 'bf16' : 'fp32';
      const sec = timeGpu(() => linear(x, w, null, { precision }), ctx.minSeconds);
      x.dispose();
      w.dispose();
      rows.push({ id, name: `cuda.gemm.${id}`, shape: `M=${s.M} K=${s.K} N=${s.N}`, dtype, flops: 2 * s.M * s.K * s.N, sec });
      jobs.push({ id, kind: 'linear', M: s.M, K: s.K, N: s.N, dtype });
    }
  }
  const torch = torchTimes(jobs, ctx);
  for (const r of rows) {
    const t = torch.times.get(r.id);
    const ours = r.flops / r.sec / 1e9,
      ref = t === undefined ? null : r.flops / t / 1e9;
    emit({
      name: r.name,
      shape: r.shape,
      dtype: r.dtype,
      ours,
      unit: 'GFLOP/s',
      reference: `${torch.label} F.linear (no TF32)`,
      ref,
      ratio: ratioOf(ours, ref),
    });
  }
}

async function attentionSuite(ctx: BenchContext, emit: (r: BenchRow) => void): Promise<void> {
  const cases = [
    { name: 'dit.self.T1100', B: 4, Tq: 1100, Tk: 1100, Hq: 16, Hkv: 8, D: 128 },
    { name: 'dit.self.T3000', B: 4, Tq: 3000, Tk: 3000, Hq: 16, Hkv: 8, D: 128 },
    { name: 'lm.decode.Tk1024', B: 4, Tq: 1, Tk: 1024, Hq: 16, Hkv: 8, D: 128 },
    { name: 'lm.decode.Tk4096', B: 4, Tq: 1, Tk: 4096, Hq: 16, Hkv: 8, D: 128 },
  ];
  const jobs: TorchJob[] = [];
  const rows: { id: string; shape: string; flops: number; sec: number }[] = [];
  for (const c of ctx.quick ? cases.filter((c) => !c.name.endsWith('3000')) : cases) {
    if (!wanted(ctx, `cuda.attention.${c.name}`)) continue;
    const q = randn([c.B, c.Tq, c.Hq, c.D], 1, { device: 'cuda' });
    const k = randn([c.B, c.Tk, c.Hkv, c.D], 2, { device: 'cuda' });
    const v = randn([c.B, c.Tk, c.Hkv, c.D], 3, { device: 'cuda' });
    const sec = timeGpu(() => attention(q, k, v), ctx.minSeconds, 5);
    for (const t of [q, k, v]) t.dispose();
    rows.push({
      id: c.name,
      shape: `B=${c.B} Tq=${c.Tq} Tk=${c.Tk} H=${c.Hq}/${c.Hkv} D=${c.D}`,
      flops: 4 * c.B * c.Tq * c.Tk * c.Hq * c.D,
      sec,
    });
    jobs.push({ id: c.name, kind: 'sdpa', ...c });
  }
  const torch = torchTimes(jobs, ctx);
  for (const r of rows) {
    const t = torch.times.get(r.id);
    const ours = r.flops / r.sec / 1e9,
      ref = t === undefined ? null : r.flops / t / 1e9;
    emit({
      name: `cuda.attention.${r.id}`,
      shape: r.shape,
      dtype: 'f32',
      ours,
      unit: 'GFLOP/s',
      reference: `${torch.label} SDPA (f32)`,
      ref,
      ratio: ratioOf(ours, ref),
    });
  }
}

/** Device copy bandwidth (read + write bytes per second) over a 1 GiB f32 buffer. */
function copyBandwidth(ctx: BenchContext): number {
  const n = 1 << 28;
  const a = Tensor.zeros([n], 'f32', 'cuda'),
    b = Tensor.zeros([n], 'f32', 'cuda');
  const sec = timeGpu(() => b.assign(a), ctx.minSeconds, 3);
  a.dispose();
  b.dispose();
  return (2 * 4 * n) / sec;
}

async function lmDecodeSuite(ctx: BenchContext, emit: (r: BenchRow) => void): Promise<void> {
  const bw = copyBandwidth(ctx);
  const rowsPerStep = 4; // batch 2 with classifier-free guidance
  const ctxLen = 1024;
  const sizes: [string, number, number][] = [
    ['0.6B', 1024, 3072],
    ['1.7B', 2048, 6144],
  ];
  for (const [size, h, inter] of ctx.quick ? sizes.slice(0, 1) : sizes) {
    if (!wanted(ctx, `cuda.lm-decode.${size}`)) continue;
    const layers = 28,
      Hq = 16,
      Hkv = 8,
      D = 128,
      vocab = 217204;
    // Distinct weights per layer so nothing is served from L2 (50 MB on an H100).
    const L = Array.from({ length: layers }, (_, i) => ({
      qkv: randWeight([(Hq + 2 * Hkv) * D, h], 'bf16', 10 * i + 1),
      o: randWeight([h, Hq * D], 'bf16', 10 * i + 2),
      gateUp: randWeight([2 * inter, h], 'bf16', 10 * i + 3),
      down: randWeight([h, inter], 'bf16', 10 * i + 4),
      k: randn([rowsPerStep, ctxLen, Hkv, D], 10 * i + 5, { device: 'cuda' }),
      v: randn([rowsPerStep, ctxLen, Hkv, D], 10 * i + 6, { device: 'cuda' }),
    }));
    const head = randWeight([vocab, h], 'bf16', 999);
    const x = randn([rowsPerStep, h], 7, { device: 'cuda' });
    const step = () => {
      let hs = x;
      for (const l of L) {
        const qkv = linear(hs, l.qkv, null, { precision: 'bf16' });
        const q = qkv.narrow(1, 0, Hq * D).reshape([rowsPerStep, 1, Hq, D]);
        const a = attention(q, l.k, l.v, { qOffset: ctxLen - 1, causal: true }).reshape([rowsPerStep, Hq * D]);
        hs = linear(a, l.o, null, { precision: 'bf16' });
        const gu = linear(hs, l.gateUp, null, { precision: 'bf16' });
        hs = linear(gu.narrow(1, 0, inter), l.down, null, { precision: 'bf16' });
      }
      return linear(hs, head, null, { precision: 'bf16' });
    };
    const sec = timeGpu(step, ctx.minSeconds, 3);
    const bytes =
      L.reduce((s, l) => s + [l.qkv, l.o, l.gateUp, l.down].reduce((t, w) => t + w.shape[0] * w.shape[1] * 2, 0), 0) + vocab * h * 2;
    for (const l of L) for (const t of Object.values(l)) t.dispose();
    head.dispose();
    x.dispose();
    const tokens = 1 / sec,
      bound = bw / 2 / bytes; // copy bandwidth counts read + write
    emit({
      name: `cuda.lm-decode.${size}`,
      shape: `28 layers, ${rowsPerStep} rows, cache ${ctxLen}`,
      dtype: 'bf16',
      ours: (bytes * tokens) / 1e9,
      unit: 'GB/s',
      reference: 'HBM read bound (device copy bandwidth)',
      ref: bw / 2 / 1e9,
      ratio: tokens / bound,
      tokensPerSecond: tokens,
      boundTokensPerSecond: bound,
    });
  }
}

async function ditSuite(ctx: BenchContext, emit: (r: BenchRow) => void): Promise<void> {
  const cfg = parseAceStepConfig({
    hidden_size: 2048,
    intermediate_size: 6144,
    num_hidden_layers: 24,
    num_attention_heads: 16,
    num_key_value_heads: 8,
    head_dim: 128,
    sliding_window: 128,
  });
  const dit = new AceStepDiT(randomWeights(2048, 16, 8, 128, 6144), cfg, 'cuda');
  const condition = tidy(() => dit.prepareCondition(randn([1, 256, 2048], 9, { device: 'cuda' })));
  for (const seconds of ctx.quick ? [88] : [88, 240]) {
    if (!wanted(ctx, `cuda.dit.turbo8.${seconds}s`)) continue;
    const frames = seconds * 25;
    const x = randn([1, frames, 64], 5, { device: 'cuda' }),
      c = randn([1, frames, 128], 6, { device: 'cuda' });
    const sec = timeGpu(
      () => {
        let v: Tensor = x;
        for (let s = 0; s < 8; s++) v = dit.forward({ hidden: x, context: c, timestep: [1 - s / 8], condition });
        return v;
      },
      ctx.minSeconds,
      1,
    );
    x.dispose();
    c.dispose();
    emit({
      name: `cuda.dit.turbo8.${seconds}s`,
      shape: `${frames} frames, 8 steps, 24 layers`,
      dtype: 'bf16',
      ours: seconds / sec,
      unit: 'GFLOP/s',
      reference: 'audio seconds per wall second (unit field is nominal)',
      ref: null,
      ratio: null,
      wallSeconds: sec,
    });
  }
  condition.dispose();
  dit.dispose();
}

async function vaeSuite(ctx: BenchContext, emit: (r: BenchRow) => void): Promise<void> {
  if (!wanted(ctx, 'cuda.vae.decode.88s')) return;
  const vae = randomVae(OFFICIAL_VAE, 'cuda');
  const z = randn([1, 64, 88 * 25], 3, { device: 'cuda' });
  const sec = timeGpu(() => vae.decode(z), ctx.minSeconds, 1);
  z.dispose();
  vae.dispose();
  emit({
    name: 'cuda.vae.decode.88s',
    shape: '2200 latent frames',
    dtype: 'f32',
    ours: 88 / sec,
    unit: 'GFLOP/s',
    reference: 'audio seconds per wall second (unit field is nominal)',
    ref: null,
    ratio: null,
    wallSeconds: sec,
  });
}

export function suites(): Suite[] {
  const gpu = (name: string, fn: (ctx: BenchContext, emit: (r: BenchRow) => void) => Promise<void>): Suite => ({
    name,
    async run(ctx, emit) {
      const info = cudaInfo();
      if (!info.available) {
        ctx.log(`${name}: skipped, ${info.status}`);
        return;
      }
      setBackend('cuda');
      try {
        await fn(ctx, emit);
      } finally {
        setBackend('cpu');
      }
    },
  });
  return [
    gpu('cuda-gemm', gemmSuite),
    gpu('cuda-attention', attentionSuite),
    gpu('cuda-lm-decode', lmDecodeSuite),
    gpu('cuda-dit', ditSuite),
    gpu('cuda-vae', vaeSuite),
  ];
}
