// Writes a REAL-SIZE, randomly initialised checkpoint root in the official ACE-Step 1.5 layout, for
// timing the whole pipeline at the shapes the released models have (bench/e2e.ts):
//   acestep-v15-turbo      2B DiT + condition encoder + audio tokenizer/detokenizer (UPSTREAM.md: Checkpoint layout), bf16
//   Qwen3-Embedding-0.6B   28 layers, hidden 1024 (UPSTREAM.md: Text encoder and caption prompt), bf16
//   acestep-5Hz-lm-0.6B    28 layers, hidden 1024, vocab 217204, tied (UPSTREAM.md: 5 Hz LM), bf16
//   acestep-5Hz-lm-1.7B    28 layers, hidden 2048, vocab 217204, tied (only with --lm17), bf16
//   vae                    Oobleck, the official config (UPSTREAM.md: VAE), weight_norm layout (g/v), f32
// Tokenizers and the silence latent come from the tiny writer (real Qwen3 tokenizer, 64 channels).
// Values: Linear weights uniform with variance 1/fan_in, norm gains 1, small biases and embeddings,
// so activations stay finite through every stack. Random bytes are drawn once per scale into a
// pool and tensors are tiled from it at random offsets: the files are ~11 GB, and per-element draws
// in JS would dominate the run; the timing of the pipeline does not depend on the values.
//
// Usage: npx tsc scripts/make-random-checkpoints.ts scripts/make-tiny-checkpoints.ts --outDir build-scripts \
//          --module nodenext --target es2022 --types node
//        node build-scripts/make-random-checkpoints.js <out-dir> [--lm17]
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTinyCheckpoints, walkOobleck } from './make-tiny-checkpoints.js';

export type Dtype = 'BF16' | 'F32';
type Init = { kind: 'uniform'; scale: number } | { kind: 'const'; value: number };

export interface Spec {
  name: string;
  shape: number[];
  init: Init;
}

/** Values per random pool (8 MiB of bf16). */
const POOL = 1 << 22;

/** Deterministic uniform draws in [0, 1) (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const bf16Bits = (x: number, f: Float32Array, u: Uint32Array) => {
  f[0] = x;
  return (u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 16;
};

/** Encodes values of one init as raw bytes; pools of uniform draws are shared per (dtype, scale). */
export class Filler {
  private pools = new Map<string, Uint8Array>();
  private r = rng(20251125);
  private f = new Float32Array(1);
  private u = new Uint32Array(this.f.buffer);

  private pool(dtype: Dtype, init: Init): Uint8Array {
    const key = `${dtype}:${init.kind}:${init.kind === 'uniform' ? init.scale : init.value}`;
    let p = this.pools.get(key);
    if (p) return p;
    const n = init.kind === 'const' ? 4096 : POOL;
    const val = () => (init.kind === 'const' ? init.value : (2 * this.r() - 1) * init.scale);
    if (dtype === 'BF16') {
      const v = new Uint16Array(n);
      for (let i = 0; i < n; i++) v[i] = bf16Bits(val(), this.f, this.u);
      p = new Uint8Array(v.buffer);
    } else {
      const v = new Float32Array(n);
      for (let i = 0; i < n; i++) v[i] = val();
      p = new Uint8Array(v.buffer);
    }
    this.pools.set(key, p);
    return p;
  }

  /** Writes `bytes` bytes of the init's values to fd, in pool-sized slices at random offsets. */
  write(fd: number, dtype: Dtype, init: Init, bytes: number): void {
    const p = this.pool(dtype, init);
    const el = dtype === 'BF16' ? 2 : 4;
    let left = bytes;
    while (left > 0) {
      const start = init.kind === 'const' ? 0 : Math.floor(this.r() * (p.length / el / 2)) * el;
      const n = Math.min(left, p.length - start);
      writeSync(fd, p, start, n);
      left -= n;
    }
  }
}

const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Streams a safetensors file (header, then each tensor's bytes) without holding it in memory. */
export function writeSpecFile(path: string, specs: Spec[], dtypeOf: (s: Spec) => Dtype, filler: Filler): number {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const s of specs) {
    const bytes = numel(s.shape) * (dtypeOf(s) === 'BF16' ? 2 : 4);
    header[s.name] = { dtype: dtypeOf(s), shape: s.shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, head);
    writeSync(fd, Buffer.from(json));
    for (const s of specs) filler.write(fd, dtypeOf(s), s.init, numel(s.shape) * (dtypeOf(s) === 'BF16' ? 2 : 4));
  } finally {
    closeSync(fd);
  }
  return off;
}

export const lin = (name: string, out: number, inp: number): Spec => ({
  name,
  shape: [out, inp],
  init: { kind: 'uniform', scale: Math.sqrt(3 / inp) },
});
export const ones = (name: string, n: number): Spec => ({ name, shape: [n], init: { kind: 'const', value: 1 } });
export const small = (name: string, shape: number[], a = 0.02): Spec => ({ name, shape, init: { kind: 'uniform', scale: a } });

/** The 11 tensors of a Qwen3-style layer (pre-norm, QK-norm, GQA, SwiGLU). */
function qwenLayer(p: string, h: number, heads: number, kv: number, hd: number, inter: number): Spec[] {
  return [
    ones(`${p}.input_layernorm.weight`, h),
    ones(`${p}.post_attention_layernorm.weight`, h),
    lin(`${p}.self_attn.q_proj.weight`, heads * hd, h),
    lin(`${p}.self_attn.k_proj.weight`, kv * hd, h),
    lin(`${p}.self_attn.v_proj.weight`, kv * hd, h),
    lin(`${p}.self_attn.o_proj.weight`, h, heads * hd),
    ones(`${p}.self_attn.q_norm.weight`, hd),
    ones(`${p}.self_attn.k_norm.weight`, hd),
    lin(`${p}.mlp.gate_proj.weight`, inter, h),
    lin(`${p}.mlp.up_proj.weight`, inter, h),
    lin(`${p}.mlp.down_proj.weight`, h, inter),
  ];
}

interface QwenDims {
  layers: number;
  hidden: number;
  inter: number;
  heads: number;
  kv: number;
  headDim: number;
  vocab: number;
}

export function qwenSpecs(prefix: string, d: QwenDims): Spec[] {
  const out: Spec[] = [small(`${prefix}embed_tokens.weight`, [d.vocab, d.hidden], 0.035)];
  for (let i = 0; i < d.layers; i++) out.push(...qwenLayer(`${prefix}layers.${i}`, d.hidden, d.heads, d.kv, d.headDim, d.inter));
  out.push(ones(`${prefix}norm.weight`, d.hidden));
  return out;
}

function qwenConfig(arch: string, d: QwenDims, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    architectures: [arch],
    model_type: 'qwen3',
    vocab_size: d.vocab,
    hidden_size: d.hidden,
    intermediate_size: d.inter,
    num_hidden_layers: d.layers,
    num_attention_heads: d.heads,
    num_key_value_heads: d.kv,
    head_dim: d.headDim,
    hidden_act: 'silu',
    max_position_embeddings: 40960,
    initializer_range: 0.02,
    rms_norm_eps: 1e-6,
    use_cache: true,
    tie_word_embeddings: true,
    rope_theta: 1000000,
    rope_scaling: null,
    attention_bias: false,
    use_sliding_window: false,
    sliding_window: null,
    max_window_layers: d.layers,
    attention_dropout: 0,
    torch_dtype: 'bfloat16',
    ...extra,
  };
}

/** The 677 tensors of the 2B DiT checkpoint (UPSTREAM.md: Checkpoint layout). */
export function ditSpecs(): Spec[] {
  const H = 2048,
    I = 6144,
    NH = 16,
    KV = 8,
    HD = 128,
    TEXT = 1024,
    LAT = 64;
  const s: Spec[] = [];
  const bias = (name: string, n: number) => small(name, [n], 0.01);
  s.push({ name: 'decoder.proj_in.1.weight', shape: [H, 3 * LAT, 2], init: { kind: 'uniform', scale: Math.sqrt(3 / (3 * LAT * 2)) } });
  s.push(bias('decoder.proj_in.1.bias', H));
  for (const te of ['time_embed', 'time_embed_r']) {
    s.push(lin(`decoder.${te}.linear_1.weight`, H, 256), bias(`decoder.${te}.linear_1.bias`, H));
    s.push(lin(`decoder.${te}.linear_2.weight`, H, H), bias(`decoder.${te}.linear_2.bias`, H));
    // time_proj feeds the adaLN shift/scale/gate: kept small like a trained model's modulation.
    s.push(small(`decoder.${te}.time_proj.weight`, [6 * H, H], 0.002), bias(`decoder.${te}.time_proj.bias`, 6 * H));
  }
  s.push(lin('decoder.condition_embedder.weight', H, H), bias('decoder.condition_embedder.bias', H));
  for (let i = 0; i < 24; i++) {
    const p = `decoder.layers.${i}`;
    s.push(ones(`${p}.self_attn_norm.weight`, H), ones(`${p}.cross_attn_norm.weight`, H), ones(`${p}.mlp_norm.weight`, H));
    for (const a of ['self_attn', 'cross_attn']) {
      s.push(
        lin(`${p}.${a}.q_proj.weight`, NH * HD, H),
        lin(`${p}.${a}.k_proj.weight`, KV * HD, H),
        lin(`${p}.${a}.v_proj.weight`, KV * HD, H),
      );
      s.push(lin(`${p}.${a}.o_proj.weight`, H, NH * HD), ones(`${p}.${a}.q_norm.weight`, HD), ones(`${p}.${a}.k_norm.weight`, HD));
    }
    s.push(lin(`${p}.mlp.gate_proj.weight`, I, H), lin(`${p}.mlp.up_proj.weight`, I, H), lin(`${p}.mlp.down_proj.weight`, H, I));
    s.push(small(`${p}.scale_shift_table`, [1, 6, H], 0.05));
  }
  s.push(ones('decoder.norm_out.weight', H));
  s.push(
    { name: 'decoder.proj_out.1.weight', shape: [H, LAT, 2], init: { kind: 'uniform', scale: Math.sqrt(3 / H) } },
    bias('decoder.proj_out.1.bias', LAT),
  );
  s.push(small('decoder.scale_shift_table', [1, 2, H], 0.05));
  s.push({ name: 'encoder.text_projector.weight', shape: [H, TEXT], init: { kind: 'uniform', scale: Math.sqrt(3 / TEXT) } });
  const subEncoder = (p: string, inDim: number, layers: number, embedName = 'embed_tokens') => {
    s.push(lin(`${p}.${embedName}.weight`, H, inDim), bias(`${p}.${embedName}.bias`, H), ones(`${p}.norm.weight`, H));
    for (let i = 0; i < layers; i++) s.push(...qwenLayer(`${p}.layers.${i}`, H, NH, KV, HD, I));
  };
  subEncoder('encoder.lyric_encoder', TEXT, 8);
  subEncoder('encoder.timbre_encoder', LAT, 4);
  s.push(small('encoder.timbre_encoder.special_token', [1, 1, H]));
  s.push(lin('tokenizer.audio_acoustic_proj.weight', H, LAT), bias('tokenizer.audio_acoustic_proj.bias', H));
  subEncoder('tokenizer.attention_pooler', H, 2);
  s.push(small('tokenizer.attention_pooler.special_token', [1, 1, H]));
  s.push(lin('tokenizer.quantizer.project_in.weight', 6, H), bias('tokenizer.quantizer.project_in.bias', 6));
  s.push(lin('tokenizer.quantizer.project_out.weight', H, 6), bias('tokenizer.quantizer.project_out.bias', H));
  subEncoder('detokenizer', H, 2);
  s.push(small('detokenizer.special_tokens', [1, 5, H]));
  s.push(lin('detokenizer.proj_out.weight', LAT, H), bias('detokenizer.proj_out.bias', LAT));
  s.push(small('null_condition_emb', [1, 1, H]));
  return s;
}

function ditConfig(): Record<string, unknown> {
  const layerTypes = (n: number) => Array.from({ length: n }, (_, i) => ((i + 1) % 2 ? 'sliding_attention' : 'full_attention'));
  return {
    architectures: ['AceStepConditionGenerationModel'],
    model_type: 'acestep',
    vocab_size: 64003,
    fsq_dim: 2048,
    fsq_input_levels: [8, 8, 8, 5, 5, 5],
    fsq_input_num_quantizers: 1,
    hidden_size: 2048,
    intermediate_size: 6144,
    num_hidden_layers: 24,
    num_attention_heads: 16,
    num_key_value_heads: 8,
    head_dim: 128,
    hidden_act: 'silu',
    max_position_embeddings: 32768,
    initializer_range: 0.02,
    rms_norm_eps: 1e-6,
    use_cache: true,
    tie_word_embeddings: true,
    rope_theta: 1000000,
    rope_scaling: null,
    attention_bias: false,
    use_sliding_window: true,
    sliding_window: 128,
    layer_types: layerTypes(24),
    attention_dropout: 0,
    num_lyric_encoder_hidden_layers: 8,
    audio_acoustic_hidden_dim: 64,
    pool_window_size: 5,
    text_hidden_dim: 1024,
    in_channels: 192,
    data_proportion: 0.5,
    timestep_mu: -0.4,
    timestep_sigma: 1.0,
    timbre_hidden_dim: 64,
    num_timbre_encoder_hidden_layers: 4,
    timbre_fix_frame: 750,
    patch_size: 2,
    num_attention_pooler_hidden_layers: 2,
    num_audio_decoder_hidden_layers: 24,
    lyric_alignment_layers_config: null,
    model_version: 'turbo',
    is_turbo: true,
    torch_dtype: 'bfloat16',
  };
}

/** The official VAE config (UPSTREAM.md: VAE). */
const VAE_CONFIG = {
  _class_name: 'AutoencoderOobleck',
  _diffusers_version: '0.34.0',
  audio_channels: 2,
  channel_multiples: [1, 2, 4, 8, 16],
  decoder_channels: 128,
  decoder_input_channels: 64,
  downsampling_ratios: [2, 4, 4, 6, 10],
  encoder_hidden_size: 128,
  sampling_rate: 48000,
};

/** Oobleck tensors in the weight_norm layout (UPSTREAM.md: VAE: 365 tensors for the official config). */
export function vaeSpecs(cfg = VAE_CONFIG): Spec[] {
  const s: Spec[] = [];
  walkOobleck(
    cfg,
    // weight = g * v / |v| per dim-0 slice; with v uniform (±1) over n elements |v| ≈ sqrt(n/3),
    // so g = sqrt(n / fanIn) gives fused weights of variance 1/fanIn.
    (name, cout, cin, k, bias, transposed, stride) => {
      const rows = transposed ? cin : cout,
        n = (transposed ? cout : cin) * k,
        fanIn = (cin * k) / stride;
      s.push({ name: `${name}.weight_g`, shape: [rows, 1, 1], init: { kind: 'const', value: Math.fround(Math.sqrt(n / fanIn)) } });
      s.push({ name: `${name}.weight_v`, shape: transposed ? [cin, cout, k] : [cout, cin, k], init: { kind: 'uniform', scale: 1 } });
      if (bias) s.push(small(`${name}.bias`, [cout], 0.01));
    },
    // Log-scale alpha 0 -> frequency 1; beta 0 -> amplitude 1 (a trained model's typical range).
    (name, c) => {
      s.push({ name: `${name}.alpha`, shape: [1, c, 1], init: { kind: 'const', value: 0 } });
      s.push({ name: `${name}.beta`, shape: [1, c, 1], init: { kind: 'const', value: 0 } });
    },
  );
  return s;
}

export const TEXT_ENCODER_DIMS: QwenDims = { layers: 28, hidden: 1024, inter: 3072, heads: 16, kv: 8, headDim: 128, vocab: 151669 };
export const LM_DIMS: Record<'0.6B' | '1.7B', QwenDims> = {
  '0.6B': { layers: 28, hidden: 1024, inter: 3072, heads: 16, kv: 8, headDim: 128, vocab: 217204 },
  '1.7B': { layers: 28, hidden: 2048, inter: 6144, heads: 16, kv: 8, headDim: 128, vocab: 217204 },
};

/** Writes the real-size root into `root` (LM sizes as listed) and returns it. */
export function makeRandomCheckpoints(root: string, lms: ('0.6B' | '1.7B')[] = ['0.6B'], log: (m: string) => void = () => {}): string {
  // The tiny root supplies tokenizers, derive rules and the silence latent; every model file is
  // then replaced by its real-size counterpart.
  makeTinyCheckpoints(root);
  rmSync(join(root, 'acestep-v15-base'), { recursive: true, force: true });
  const filler = new Filler();
  const bf16 = () => 'BF16' as Dtype;
  const t0 = performance.now();
  const done = (what: string, bytes: number) =>
    log(`${what}: ${(bytes / 2 ** 30).toFixed(2)} GiB (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  const dit = join(root, 'acestep-v15-turbo');
  writeFileSync(join(dit, 'config.json'), JSON.stringify(ditConfig(), null, 1));
  done('acestep-v15-turbo', writeSpecFile(join(dit, 'model.safetensors'), ditSpecs(), bf16, filler));

  const te = join(root, 'Qwen3-Embedding-0.6B');
  writeFileSync(
    join(te, 'config.json'),
    JSON.stringify(qwenConfig('Qwen3Model', TEXT_ENCODER_DIMS, { bos_token_id: 151643, eos_token_id: 151643 }), null, 1),
  );
  done('Qwen3-Embedding-0.6B', writeSpecFile(join(te, 'model.safetensors'), qwenSpecs('', TEXT_ENCODER_DIMS), bf16, filler));

  const lmTemplate = join(root, 'acestep-5Hz-lm-0.6B');
  for (const size of lms) {
    const dir = join(root, `acestep-5Hz-lm-${size}`);
    mkdirSync(dir, { recursive: true });
    if (dir !== lmTemplate) writeFileSync(join(dir, 'derive.json'), readFileSync(join(lmTemplate, 'derive.json'), 'utf8'));
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify(
        qwenConfig('Qwen3ForCausalLM', LM_DIMS[size], { bos_token_id: 151643, eos_token_id: 151645, pad_token_id: null }),
        null,
        1,
      ),
    );
    done(`acestep-5Hz-lm-${size}`, writeSpecFile(join(dir, 'model.safetensors'), qwenSpecs('model.', LM_DIMS[size]), bf16, filler));
  }
  if (!lms.includes('0.6B')) rmSync(lmTemplate, { recursive: true, force: true });

  const vae = join(root, 'vae');
  writeFileSync(join(vae, 'config.json'), JSON.stringify(VAE_CONFIG, null, 1));
  done(
    'vae',
    writeSpecFile(join(vae, 'diffusion_pytorch_model.safetensors'), vaeSpecs(), () => 'F32', filler),
  );
  return root;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const out = args.find((a) => !a.startsWith('--'));
  if (!out) {
    console.error('usage: make-random-checkpoints <out-dir> [--lm17] [--no-lm06]');
    process.exit(2);
  }
  const lms: ('0.6B' | '1.7B')[] = [];
  if (!args.includes('--no-lm06')) lms.push('0.6B');
  if (args.includes('--lm17')) lms.push('1.7B');
  console.log(makeRandomCheckpoints(resolve(out), lms, (m) => console.error(m)));
}
