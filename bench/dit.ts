// DiT forward benchmark: one velocity evaluation at the 2B shapes (24 layers, hidden 2048, 16/8
// heads of 128, MLP 6144, sliding window 128 on even layers) with random bf16 weights, for 30 s
// (750 latent frames -> 375 tokens) and 240 s (6000 -> 3000) of audio, beside the same layer math
// in PyTorch (bench/dit_torch.py) when /usr/bin/python3 has torch. One set of layer weights is
// shared by all layers in both programs (3 GB of distinct bf16 weights would not change the
// per-layer work, which streams 126 MB of weights per layer either way).
// Variants: fp32 and bf16 GEMM precision, and w8a8 (the engine's quantization 'w8a8_dynamic' on
// top of bf16: every linear an int8 W8A8 product).
// Run: node dist/bench/dit.js [frames=750,6000] [layers=24] [threads=2] [precision=fp32,bf16,w8a8]
//      [repeat=1] [torch=on|off]   (repeat: best of that many forwards per variant and length;
//      torch=off skips the reference, e.g. for interleaved runs of two addons)
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setNumThreads, Tensor, tidy, type MatmulPrecision } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { parseAceStepConfig } from '../src/models/acestep-config.js';
import { AceStepDiT } from '../src/models/dit.js';
import { quantizeLinearsW8A8, setPrecision, Weights } from '../src/models/layers.js';
import { randomValues, ratioOf, wanted, type Suite } from './suite.js';

/** A GEMM precision, or W8A8 quantization over bf16 (applied last: it cannot be undone). */
export type DitVariant = MatmulPrecision | 'w8a8';

export interface DitBenchResult {
  frames: number;
  precision: DitVariant;
  tokens: number;
  oursSeconds: number;
  torchSeconds: number | null;
  /** Process CPU seconds (all threads) of the forward: comparable on a machine others load too. */
  oursCpuSeconds: number;
  torchCpuSeconds: number | null;
  /** torch time / our time (>= 1 means we are faster). */
  ratio: number | null;
  /** bf16 / w8a8 rows: cosine of the velocity against the fp32 forward on the same inputs. */
  cosineVsFp32: number | null;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let d = 0,
    na = 0,
    nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return d / Math.sqrt(na * nb);
}

/** Multiply-add work of one forward (2 FLOP each): projections, MLP, attention scores and mixes. */
export function ditForwardFlops(frames: number, layers: number, encLen: number, window = 128): number {
  const t = Math.ceil(frames / 2);
  const h = 2048,
    kv = 1024,
    inter = 6144;
  const perTokenParams = 2 * h * h + 2 * kv * h + 2 * h * h + 3 * h * inter;
  let flops = 2 * t * perTokenParams * layers;
  for (let i = 0; i < layers; i++) {
    const keys = i % 2 === 0 ? Math.min(t, 2 * window + 1) : t;
    flops += 4 * t * keys * h + 4 * t * encLen * h;
  }
  return flops + 2 * t * (384 * h + h * 128);
}

export interface DitBenchOptions {
  frames?: number[];
  layers?: number;
  threads?: number;
  encoderLength?: number;
  /** Our variants to time (default fp32, bf16); torch runs bf16. */
  precisions?: DitVariant[];
  /** Forwards per precision and length; the fastest (by wall time) is reported. Default 1. */
  repeat?: number;
  /** Run the torch reference (default true). */
  torch?: boolean;
}

function bf16(shape: number[], scale: number, seed: number): Tensor {
  const f = randomValues(
    shape.reduce((x, y) => x * y, 1),
    scale,
    seed,
  );
  const u = new Uint32Array(f.buffer);
  const bits = new Uint16Array(f.length);
  for (let i = 0; i < f.length; i++) bits[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
  return Tensor.fromArray(bits, shape, { dtype: 'bf16' });
}

/** Random 2B-shaped DiT weights; every `decoder.layers.N.*` name maps to one shared set. */
export function randomWeights(h: number, heads: number, kvHeads: number, d: number, inter: number): Weights {
  const m = new Map<string, Tensor>();
  let seed = 1;
  const lin = (name: string, o: number, i: number, bias = false) => {
    m.set(`${name}.weight`, bf16([o, i], 1 / Math.sqrt(i), seed++));
    if (bias) m.set(`${name}.bias`, bf16([o], 0.02, seed++));
  };
  const L = 'decoder.layers.0';
  for (const a of ['self_attn', 'cross_attn']) {
    lin(`${L}.${a}.q_proj`, heads * d, h);
    lin(`${L}.${a}.k_proj`, kvHeads * d, h);
    lin(`${L}.${a}.v_proj`, kvHeads * d, h);
    lin(`${L}.${a}.o_proj`, h, heads * d);
    m.set(`${L}.${a}.q_norm.weight`, bf16([d], 0.1, seed++));
    m.set(`${L}.${a}.k_norm.weight`, bf16([d], 0.1, seed++));
  }
  for (const n of ['self_attn_norm', 'cross_attn_norm', 'mlp_norm']) m.set(`${L}.${n}.weight`, bf16([h], 0.1, seed++));
  lin(`${L}.mlp.gate_proj`, inter, h);
  lin(`${L}.mlp.up_proj`, inter, h);
  lin(`${L}.mlp.down_proj`, h, inter);
  m.set(`${L}.scale_shift_table`, bf16([1, 6, h], 0.1, seed++));
  for (const te of ['time_embed', 'time_embed_r']) {
    lin(`decoder.${te}.linear_1`, h, 256, true);
    lin(`decoder.${te}.linear_2`, h, h, true);
    lin(`decoder.${te}.time_proj`, 6 * h, h, true);
  }
  lin('decoder.condition_embedder', h, h, true);
  m.set('decoder.norm_out.weight', bf16([h], 0.1, seed++));
  m.set('decoder.scale_shift_table', bf16([1, 2, h], 0.1, seed++));
  m.set('decoder.proj_in.1.weight', bf16([h, 192, 2], 1 / Math.sqrt(384), seed++));
  m.set('decoder.proj_in.1.bias', bf16([h], 0.02, seed++));
  m.set('decoder.proj_out.1.weight', bf16([h, 64, 2], 1 / Math.sqrt(h), seed++));
  m.set('decoder.proj_out.1.bias', bf16([64], 0.02, seed++));
  const shared = (n: string) => n.replace(/^decoder\.layers\.\d+\./, `${L}.`);
  return new Weights({ get: (n) => m.get(shared(n))!.contiguous(), has: (n) => m.has(shared(n)) }, '', 'random bf16 weights');
}

function torchTimes(frames: number[], layers: number, threads: number, enc: number): Map<number, { wall: number; cpu: number }> {
  const out = new Map<number, { wall: number; cpu: number }>();
  const py = '/usr/bin/python3';
  const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'dit_torch.py');
  const alt = join(dirname(fileURLToPath(import.meta.url)), 'dit_torch.py');
  const path = existsSync(script) ? script : alt;
  if (!existsSync(py) || !existsSync(path)) return out;
  try {
    execFileSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
  } catch {
    return out;
  }
  const text = execFileSync(py, [path, `frames=${frames.join(',')}`, `layers=${layers}`, `threads=${threads}`, `enc=${enc}`], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  for (const line of text.trim().split('\n')) {
    const r = JSON.parse(line) as { frames: number; seconds: number; cpu_seconds: number };
    out.set(r.frames, { wall: r.seconds, cpu: r.cpu_seconds });
  }
  return out;
}

export async function runDitBench(opts: DitBenchOptions = {}): Promise<DitBenchResult[]> {
  const frames = opts.frames ?? [750, 6000];
  const layers = opts.layers ?? 24;
  const threads = opts.threads ?? 2;
  const encLen = opts.encoderLength ?? 256;
  setNumThreads(threads);
  const cfg = parseAceStepConfig({
    hidden_size: 2048,
    intermediate_size: 6144,
    num_hidden_layers: layers,
    num_attention_heads: 16,
    num_key_value_heads: 8,
    head_dim: 128,
    sliding_window: 128,
  });
  const dit = new AceStepDiT(randomWeights(2048, 16, 8, 128, 6144), cfg);
  const results: DitBenchResult[] = [];
  const condition = dit.prepareCondition(Tensor.fromArray(randomValues(encLen * 2048, 1, 99), [1, encLen, 2048]));
  const run = async (t: number): Promise<{ wall: number; cpu: number; v: Float32Array }> => {
    const x = Tensor.fromArray(randomValues(t * 64, 1, 5), [1, t, 64]);
    const ctx = Tensor.fromArray(randomValues(t * 128, 1, 6), [1, t, 128]);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const v = tidy(() => dit.forward({ hidden: x, context: ctx, timestep: [0.5], condition }));
    const out = (await v.data()) as Float32Array;
    const wall = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    for (const z of [x, ctx, v]) z.dispose();
    return { wall, cpu: (c.user + c.system) / 1e6, v: out };
  };
  await run(64); // warm-up: thread pool, weight re-layout caches
  const precisions = opts.precisions ?? ['fp32', 'bf16'];
  const ours = new Map<string, { wall: number; cpu: number; v: Float32Array }>();
  const order = [...precisions.filter((p) => p !== 'w8a8'), ...precisions.filter((p) => p === 'w8a8')];
  for (const p of order) {
    if (p === 'w8a8') {
      setPrecision(dit, 'bf16');
      quantizeLinearsW8A8(dit);
      native.syncBlocking(); // the quantizer runs on the op queue: keep it out of the timing
    } else setPrecision(dit, p);
    for (const f of frames)
      for (let r = 0; r < (opts.repeat ?? 1); r++) {
        const o = await run(f);
        const best = ours.get(`${p}:${f}`);
        if (!best || o.wall < best.wall) ours.set(`${p}:${f}`, o);
      }
  }
  condition.dispose();
  dit.dispose();
  const torch = opts.torch === false ? new Map<number, { wall: number; cpu: number }>() : torchTimes(frames, layers, threads, encLen);
  for (const p of precisions)
    for (const f of frames) {
      const o = ours.get(`${p}:${f}`)!;
      const t = torch.get(f) ?? null;
      const ref = ours.get(`fp32:${f}`);
      results.push({
        frames: f,
        precision: p,
        cosineVsFp32: p !== 'fp32' && ref ? cosine(o.v, ref.v) : null,
        tokens: Math.ceil(f / 2),
        oursSeconds: o.wall,
        torchSeconds: t?.wall ?? null,
        oursCpuSeconds: o.cpu,
        torchCpuSeconds: t?.cpu ?? null,
        ratio: t === null ? null : t.wall / o.wall,
      });
    }
  return results;
}

/** bench/run.ts plug-in: one row per audio length, throughput in GFLOP/s of one forward. */
export function suites(): Suite[] {
  return [
    {
      name: 'dit',
      async run(ctx, emit) {
        if (!wanted(ctx, 'dit.forward')) return;
        const layers = ctx.quick ? 2 : 24;
        const frames = ctx.quick ? [750] : [750, 6000];
        const precisions: DitVariant[] = ['fp32', 'bf16', ...(native.cpuFeatures().avx512vnni ? ['w8a8' as const] : [])];
        const res = await runDitBench({ frames, layers, threads: ctx.threads, precisions });
        for (const r of res) {
          const gf = ditForwardFlops(r.frames, layers, 256) / 1e9;
          const ours = gf / r.oursSeconds;
          const ref = r.torchSeconds === null ? null : gf / r.torchSeconds;
          emit({
            name: 'dit.forward',
            shape: `${r.tokens}tok x ${layers}L`,
            dtype: r.precision === 'w8a8' ? 'w8a8' : r.precision === 'bf16' ? 'bf16w/bf16' : 'bf16w/f32',
            ours,
            unit: 'GFLOP/s',
            reference: ref === null ? 'torch not available (/usr/bin/python3)' : 'torch bf16 eager, bench/dit_torch.py',
            ref,
            ratio: ratioOf(ours, ref),
            oursSeconds: r.oursSeconds,
            torchSeconds: r.torchSeconds,
            oursCpuSeconds: r.oursCpuSeconds,
            torchCpuSeconds: r.torchCpuSeconds,
            ...(r.cosineVsFp32 === null ? {} : { cosineVsFp32: r.cosineVsFp32 }),
          });
        }
      },
    },
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = Object.fromEntries(process.argv.slice(2).map((a) => a.split('=')));
  const res = await runDitBench({
    frames: args.frames ? String(args.frames).split(',').map(Number) : undefined,
    layers: args.layers ? Number(args.layers) : undefined,
    threads: args.threads ? Number(args.threads) : undefined,
    precisions: args.precision ? (String(args.precision).split(',') as DitVariant[]) : undefined,
    repeat: args.repeat ? Number(args.repeat) : undefined,
    torch: args.torch !== 'off',
  });
  for (const r of res) {
    console.log(
      `DiT forward ${r.frames} frames (${r.tokens} tokens), ${r.precision}: ours ${r.oursSeconds.toFixed(2)} s (cpu ${r.oursCpuSeconds.toFixed(1)} s)` +
        (r.torchSeconds === null
          ? ', torch n/a'
          : `, torch bf16 ${r.torchSeconds.toFixed(2)} s (cpu ${r.torchCpuSeconds!.toFixed(1)} s), wall ratio ${r.ratio!.toFixed(2)}, cpu ratio ${(r.torchCpuSeconds! / r.oursCpuSeconds).toFixed(2)}`) +
        (r.cosineVsFp32 === null ? '' : `, velocity cosine vs fp32 ${r.cosineVsFp32.toFixed(6)}`),
    );
  }
}
