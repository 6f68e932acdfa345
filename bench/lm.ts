// 5 Hz LM benchmark: prefill and single-token decode throughput of the Qwen3 decoder at the 0.6B and
// 1.7B shapes (UPSTREAM.md: 5 Hz LM: 28 layers, hidden 1024 / 2048, 16 q / 8 KV heads of 128, MLP 3072 / 6144,
// vocabulary 217204, tied head) with random bf16 weights, distinct per layer so nothing stays in the
// 260 MB L3. Decode is compared with its memory-bandwidth bound: bf16 weight bytes read per token
// (every layer plus the LM head) divided by the streaming read bandwidth measured in the same run
// (the `streamRead` probe over a 1 GiB buffer, best of 3).
// Run: node dist/bench/lm.js [sizes=0.6B,1.7B] [threads=2] [prompt=256] [decode=32] [layers=28]
// The Phase-2 step (CFG pair, codes head, sampling) alone, from a checkpoint folder:
//   node dist/bench/lm.js phase2=<lm folder> [precision=bf16|fp32] [quant=none|int8] [steps=60] [threads=2]
// (quant=int8: the LM's linear layers and head as int8 rows with per-row scales; the bound then
// counts one byte per weight plus the f32 scales)
import { fileURLToPath } from 'node:url';
import { argmax, flush, setNumThreads, Tensor, tidy } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { setPrecision, Weights } from '../src/models/layers.js';
import { Qwen3Model, type LmQuantization, type Qwen3Config } from '../src/models/qwen3.js';
import { generate, type GenerateOptions } from '../src/pipeline/lm/sampling-loop.js';
import { randomValues, ratioOf, timeQueued, wanted, type Suite } from './suite.js';

export interface LmBenchResult {
  size: string;
  layers: number;
  /** bf16 weight bytes streamed per decoded token (layers + head). */
  weightBytesPerToken: number;
  prefillTokensPerSecond: number;
  /** Greedy decode: the forward, the LM head and argmax per token. */
  decodeTokensPerSecond: number;
  /** Decode with the default sampling chain (temperature 0.85, top-p 0.9, sampleRace). */
  decodeSampledTokensPerSecond: number;
  /** Sampled decode with the head restricted to the codes phase's ids (64000 codes + EOS). */
  decodeCodesTokensPerSecond: number;
  readBandwidthGBs: number;
  /** weight bytes per token / bandwidth, as tokens/s. */
  boundTokensPerSecond: number;
  /** decode / bound. */
  fractionOfBound: number;
  /**
   * Median over decode steps of (bound time / step time), each greedy step timed right beside a
   * streamRead pass, so that load from other processes hits both sides of the ratio alike.
   */
  pairedFractionOfBound: number;
}

export interface LmBenchOptions {
  sizes?: string[];
  threads?: number;
  promptTokens?: number;
  decodeTokens?: number;
  layers?: number;
}

const SHAPES: Record<string, { hidden: number; intermediate: number }> = {
  '0.6B': { hidden: 1024, intermediate: 3072 },
  '1.7B': { hidden: 2048, intermediate: 6144 },
};
const VOCAB = 217204;

function config(size: string, layers: number): Qwen3Config {
  const s = SHAPES[size];
  if (!s) throw new Error(`unknown size ${size} (known: ${Object.keys(SHAPES).join(', ')})`);
  return {
    vocabSize: VOCAB,
    hiddenSize: s.hidden,
    intermediateSize: s.intermediate,
    numLayers: layers,
    numHeads: 16,
    numKvHeads: 8,
    headDim: 128,
    rmsNormEps: 1e-6,
    ropeTheta: 1e6,
    tieWordEmbeddings: true,
    maxPositionEmbeddings: 40960,
    attentionBias: false,
  };
}

/** 4M deterministic uniform values with standard deviation `scale`, as bf16; weights tile them. */
function randomPool(scale: number, seed: number): Tensor {
  const n = 1 << 22;
  const u = new Uint32Array(randomValues(n, scale, seed).buffer);
  const bits = new Uint16Array(n);
  for (let i = 0; i < n; i++) bits[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
  return Tensor.fromArray(bits, [n], { dtype: 'bf16' });
}

/** A bf16 tensor with its own memory, filled by tiling the pool from a per-tensor offset. */
function filled(pool: Tensor, shape: number[], offset: number): Tensor {
  const out = Tensor.empty(shape, 'bf16');
  const flat = out.reshape([-1]);
  const n = flat.shape[0];
  const p = pool.shape[0];
  tidy(() => {
    for (let at = 0; at < n; at += p) {
      const len = Math.min(p, n - at);
      const start = (offset + at) % (p - len + 1);
      flat.narrow(0, at, len).assign(pool.narrow(0, start, len));
    }
  });
  flat.dispose();
  return out;
}

function randomWeights(cfg: Qwen3Config): { weights: Weights; dispose(): void } {
  const m = new Map<string, Tensor>();
  // One pool per fan-in keeps activations O(1) through 28 random layers.
  const pools = new Map<number, Tensor>();
  const pool = (scale: number) => {
    if (!pools.has(scale)) pools.set(scale, randomPool(scale, 7 + pools.size));
    return pools.get(scale)!;
  };
  const h = cfg.hiddenSize;
  const d = cfg.headDim;
  let off = 0;
  const lin = (name: string, o: number, i: number) => m.set(`${name}.weight`, filled(pool(1 / Math.sqrt(i)), [o, i], (off += 7919)));
  const ones = (name: string, n: number) => m.set(`${name}.weight`, Tensor.full([n], 1, 'bf16'));
  m.set('embed_tokens.weight', filled(pool(1), [cfg.vocabSize, h], 1));
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `layers.${l}`;
    ones(`${p}.input_layernorm`, h);
    ones(`${p}.post_attention_layernorm`, h);
    lin(`${p}.self_attn.q_proj`, cfg.numHeads * d, h);
    lin(`${p}.self_attn.k_proj`, cfg.numKvHeads * d, h);
    lin(`${p}.self_attn.v_proj`, cfg.numKvHeads * d, h);
    lin(`${p}.self_attn.o_proj`, h, cfg.numHeads * d);
    ones(`${p}.self_attn.q_norm`, d);
    ones(`${p}.self_attn.k_norm`, d);
    lin(`${p}.mlp.gate_proj`, cfg.intermediateSize, h);
    lin(`${p}.mlp.up_proj`, cfg.intermediateSize, h);
    lin(`${p}.mlp.down_proj`, h, cfg.intermediateSize);
  }
  ones('norm', h);
  for (const p of pools.values()) p.dispose();
  return { weights: Weights.fromMap(m, 'random bf16 weights'), dispose: () => m.forEach((t) => t.dispose()) };
}

/** Seconds for one streamRead pass over `big`. */
function streamSeconds(big: Tensor, sink: Tensor): number {
  const t0 = performance.now();
  native.streamRead(big.desc(), sink.desc());
  native.syncBlocking();
  return (performance.now() - t0) / 1000;
}

/** Greedy decode steps, each followed by a streamRead pass; returns the median bound/step ratio. */
async function pairedFraction(model: Qwen3Model, prompt: number[], steps: number, bytesPerToken: number): Promise<number> {
  const bytes = 1 << 30;
  const big = Tensor.full([bytes / 4], 1, 'f32');
  const sink = Tensor.empty([1], 'f32');
  const cache = model.createCache(1, prompt.length + steps + 1);
  const ratios: number[] = [];
  try {
    const first = model.logits(Tensor.fromArray(Int32Array.from(prompt), [1, prompt.length]), { cache, lastOnly: true });
    await first.data();
    first.dispose();
    let token = prompt[prompt.length - 1];
    for (let i = 0; i < steps; i++) {
      const t0 = performance.now();
      const id = tidy(() => argmax(model.logits(Tensor.fromArray(Int32Array.of(token), [1, 1]), { cache }).reshape([1, -1]), -1));
      token = ((await id.data()) as Int32Array)[0];
      id.dispose();
      const step = (performance.now() - t0) / 1000;
      ratios.push((streamSeconds(big, sink) * (bytesPerToken / bytes)) / step);
    }
  } finally {
    cache.dispose();
    big.dispose();
    sink.dispose();
  }
  ratios.sort((a, b) => a - b);
  return ratios[Math.floor(ratios.length / 2)];
}

/**
 * Streaming read bandwidth in bytes/s: the GEMM bench's `streamRead` probe (a plain SIMD sum on all
 * pool threads) over a 1 GiB buffer, four times the 260 MB L3; best of at least 3 passes.
 */
function readBandwidth(): number {
  const bytes = 1 << 30;
  const big = Tensor.full([bytes / 4], 1, 'f32');
  const sink = Tensor.empty([1], 'f32');
  const s = timeQueued(() => native.streamRead(big.desc(), sink.desc()), 1);
  big.dispose();
  sink.dispose();
  return bytes / s;
}

/** Weight bytes a decode step reads: bf16 (2 per weight), or int8 (1 per weight + an f32 scale per row). */
function weightBytesPerToken(cfg: Qwen3Config, headRows: number, quantization: LmQuantization = 'none'): number {
  const h = cfg.hiddenSize;
  const qkvo = 2 * cfg.numHeads * cfg.headDim * h + 2 * cfg.numKvHeads * cfg.headDim * h;
  const mlp = 3 * cfg.intermediateSize * h;
  const weights = cfg.numLayers * (qkvo + mlp) + headRows * h;
  if (quantization === 'none') return 2 * weights;
  const rows = cfg.numLayers * ((cfg.numHeads + 2 * cfg.numKvHeads) * cfg.headDim + h + 3 * cfg.intermediateSize) + headRows;
  return weights + 4 * rows;
}

export async function runLmBench(opts: LmBenchOptions = {}): Promise<LmBenchResult[]> {
  const threads = opts.threads ?? 2;
  setNumThreads(threads);
  const promptLen = opts.promptTokens ?? 256;
  const decode = opts.decodeTokens ?? 32;
  const layers = opts.layers ?? 28;
  const bw = readBandwidth();
  const out: LmBenchResult[] = [];
  for (const size of opts.sizes ?? ['0.6B', '1.7B']) {
    const cfg = config(size, layers);
    const w = randomWeights(cfg);
    const model = new Qwen3Model(w.weights, cfg);
    const prompt = Array.from({ length: promptLen }, (_, i) => (i * 7919) % 151669);
    // Warm-up (thread pool, any weight re-layout caches), then prefill alone.
    await generate(model, { prompts: [prompt.slice(0, 16)], maxNewTokens: 2, temperature: 0 });
    const cache = model.createCache(1, promptLen + 1);
    let t0 = performance.now();
    const logits = model.logits(Tensor.fromArray(Int32Array.from(prompt), [1, promptLen]), { cache, lastOnly: true });
    await logits.data();
    const prefill = promptLen / ((performance.now() - t0) / 1000);
    logits.dispose();
    cache.dispose();
    // Decode: the median interval between streamed tokens (prefill excluded); the median keeps
    // one step disturbed by other processes on the machine from skewing the rate.
    const decodeRate = async (extra: Partial<GenerateOptions>): Promise<number> => {
      const stamps: number[] = [];
      await generate(model, {
        prompts: [prompt],
        maxNewTokens: decode + 1,
        seed: 1,
        onToken: () => stamps.push(performance.now()),
        ...extra,
      });
      const gaps = stamps
        .slice(1)
        .map((t, i) => t - stamps[i])
        .sort((x, y) => x - y);
      return 1000 / gaps[Math.floor(gaps.length / 2)];
    };
    const dec = await decodeRate({ temperature: 0 });
    const decSampled = await decodeRate({ temperature: 0.85, topP: 0.9 });
    const decCodes = await decodeRate({
      temperature: 0.85,
      topP: 0.9,
      vocabRanges: [
        [151645, 151646],
        [151669, 151669 + 64000],
      ],
    });
    const bytes = weightBytesPerToken(cfg, VOCAB);
    const paired = await pairedFraction(model, prompt, decode, bytes);
    model.dispose();
    w.dispose();
    const bound = bw / bytes;
    out.push({
      size,
      layers,
      weightBytesPerToken: bytes,
      prefillTokensPerSecond: prefill,
      decodeTokensPerSecond: dec,
      decodeSampledTokensPerSecond: decSampled,
      decodeCodesTokensPerSecond: decCodes,
      readBandwidthGBs: bw / 1e9,
      boundTokensPerSecond: bound,
      fractionOfBound: dec / bound,
      pairedFractionOfBound: paired,
    });
  }
  return out;
}

/** bench/run.ts plugin: decode as effective weight-streaming GB/s against the measured read bandwidth. */
export function suites(): Suite[] {
  return [
    {
      name: 'lm',
      async run(ctx, emit) {
        const sizes = (ctx.quick ? ['0.6B'] : ['0.6B', '1.7B']).filter(
          (s) => wanted(ctx, `lm decode ${s}`) || wanted(ctx, `lm prefill ${s}`),
        );
        if (sizes.length === 0) return;
        ctx.log(`lm: building random bf16 weights for ${sizes.join(', ')}`);
        const res = await runLmBench({ sizes, threads: ctx.threads, decodeTokens: ctx.quick ? 8 : 32, promptTokens: ctx.quick ? 64 : 256 });
        for (const r of res) {
          const ours = (r.decodeTokensPerSecond * r.weightBytesPerToken) / 1e9;
          emit({
            name: `lm decode ${r.size}`,
            shape: `${r.layers}L V${VOCAB}`,
            dtype: 'bf16 w/f32 a',
            ours,
            unit: 'GB/s',
            reference: 'streamRead probe over 1 GiB (bandwidth bound)',
            ref: r.readBandwidthGBs,
            ratio: ratioOf(ours, r.readBandwidthGBs),
            tokensPerSecond: r.decodeTokensPerSecond,
            sampledTokensPerSecond: r.decodeSampledTokensPerSecond,
            codesHeadTokensPerSecond: r.decodeCodesTokensPerSecond,
            prefillTokensPerSecond: r.prefillTokensPerSecond,
            pairedFractionOfBound: r.pairedFractionOfBound,
          });
        }
      },
    },
  ];
}

export interface Phase2Result {
  precision: 'fp32' | 'bf16';
  quantization: LmQuantization;
  /** Weight bytes streamed per step: every layer plus the 64001 allowed head rows. */
  weightBytesPerStep: number;
  readBandwidthGBs: number;
  /** weight bytes / read bandwidth. */
  boundMs: number;
  stepMedianMs: number;
  stepBestMs: number;
  /** process CPU ms per step (all native threads). */
  cpuMsPerStep: number;
  /** Building the model from the folder (mapping, fusing, quantizing), wall ms. */
  loadMs: number;
}

/**
 * The codes phase's step as the pipeline runs it: a CFG pair ([cond; uncond], prompts of 300 and 200
 * tokens), the head over the 64000 audio codes + EOS, temperature 0.85, top-p 0.9, race sampling.
 * Step time = gap between streamed tokens (the first, which holds the prefill, is dropped).
 */
export async function runPhase2Bench(
  dir: string,
  opts: { precision?: 'fp32' | 'bf16'; quantization?: LmQuantization; steps?: number; threads?: number } = {},
) {
  setNumThreads(opts.threads ?? 2);
  const quantization = opts.quantization ?? 'none';
  const loadStart = performance.now();
  const model = Qwen3Model.load(dir, { quantization });
  await flush(); // the fused copies and the quantization run on the native queue
  const loadMs = performance.now() - loadStart;
  const precision = opts.precision ?? 'bf16';
  setPrecision(model, precision);
  const steps = opts.steps ?? 60;
  const cond = Array.from({ length: 300 }, (_, i) => (i * 7919) % 151669);
  const uncond = Array.from({ length: 200 }, (_, i) => (i * 104729) % 151669);
  const ranges: [number, number][] = [
    [151645, 151646],
    [151669, 151669 + 64000],
  ];
  const run = async (n: number) => {
    const stamps: number[] = [];
    const cpu: number[] = [];
    await generate(model, {
      prompts: [cond],
      uncondPrompts: [uncond],
      cfgScale: 2,
      maxNewTokens: n,
      temperature: 0.85,
      topP: 0.9,
      seed: 3,
      vocabRanges: ranges,
      onToken: () => {
        stamps.push(performance.now());
        const u = process.cpuUsage();
        cpu.push((u.user + u.system) / 1000);
      },
    });
    const gaps = stamps
      .slice(1)
      .map((t, i) => t - stamps[i])
      .sort((x, y) => x - y);
    return { median: gaps[Math.floor(gaps.length / 2)], best: gaps[0], cpu: (cpu[cpu.length - 1] - cpu[0]) / (cpu.length - 1) };
  };
  await run(3); // warm-up: pages of the mapped weights, thread pool, caches
  const r = await run(steps + 1);
  const bw = readBandwidth();
  const bytes = weightBytesPerToken(model.config, 64001, quantization);
  model.dispose();
  const res: Phase2Result = {
    precision,
    quantization,
    loadMs,
    weightBytesPerStep: bytes,
    readBandwidthGBs: bw / 1e9,
    boundMs: (bytes / bw) * 1000,
    stepMedianMs: r.median,
    stepBestMs: r.best,
    cpuMsPerStep: r.cpu,
  };
  return res;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = Object.fromEntries(process.argv.slice(2).map((a) => a.split('=')));
  if (args.phase2) {
    const r = await runPhase2Bench(String(args.phase2), {
      precision: args.precision === 'fp32' ? 'fp32' : 'bf16',
      quantization: args.quant === 'int8' ? 'int8' : 'none',
      steps: args.steps ? Number(args.steps) : undefined,
      threads: args.threads ? Number(args.threads) : undefined,
    });
    console.log(
      `Phase 2 ${r.precision}${r.quantization === 'int8' ? ' int8 weights' : ''} (load ${(r.loadMs / 1000).toFixed(1)} s): step median ${r.stepMedianMs.toFixed(1)} ms, best ${r.stepBestMs.toFixed(1)} ms, CPU ${r.cpuMsPerStep.toFixed(1)} ms/step; ` +
        `bound ${r.boundMs.toFixed(1)} ms (${(r.weightBytesPerStep / 1e9).toFixed(3)} GB at ${r.readBandwidthGBs.toFixed(1)} GB/s); load ${(await import('node:os')).loadavg()[0].toFixed(2)}`,
    );
    process.exit(0);
  }
  const res = await runLmBench({
    sizes: args.sizes ? String(args.sizes).split(',') : undefined,
    threads: args.threads ? Number(args.threads) : undefined,
    promptTokens: args.prompt ? Number(args.prompt) : undefined,
    decodeTokens: args.decode ? Number(args.decode) : undefined,
    layers: args.layers ? Number(args.layers) : undefined,
  });
  for (const r of res) {
    console.log(
      `LM ${r.size} (${r.layers} layers, ${(r.weightBytesPerToken / 1e9).toFixed(2)} GB bf16/token): prefill ${r.prefillTokensPerSecond.toFixed(1)} tok/s, ` +
        `decode greedy ${r.decodeTokensPerSecond.toFixed(2)} tok/s, sampled ${r.decodeSampledTokensPerSecond.toFixed(2)} (codes-only head ${r.decodeCodesTokensPerSecond.toFixed(2)}), ` +
        `bound ${r.boundTokensPerSecond.toFixed(2)} tok/s at ${r.readBandwidthGBs.toFixed(1)} GB/s read -> ${(100 * r.fractionOfBound).toFixed(0)}% of bound (paired per step: ${(100 * r.pairedFractionOfBound).toFixed(0)}%)`,
    );
  }
}
