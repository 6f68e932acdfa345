// Writes a tiny, randomly initialised checkpoint root in the official ACE-Step 1.5 layout
// (acestep-v15-turbo, acestep-v15-base, acestep-5Hz-lm-0.6B, Qwen3-Embedding-0.6B, vae) so the whole pipeline can run
// end to end in seconds. The DiT and the LM are the golden fixtures' tiny models; the text encoder
// gets the golden tiny body with an embedding table widened to the real Qwen3 vocabulary (captions
// and lyrics use real token ids); the VAE is generated here with 64 latent channels (the DiT's) and
// a 200 Hz "sample rate" with hop 8, so its latent rate is 25 Hz like the real 48 kHz / 1920 VAE and
// durations in seconds keep their meaning while audio stays a few thousand samples long.
// Tokenizers are derive.json folders over a copy of the fixture Qwen3 tokenizer.
//
// Usage: the e2e tests import makeTinyCheckpoints; from a shell, compile and run it:
//   npm run build:ts && node dist/scripts/make-tiny-checkpoints.js <out-dir>
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile, writeSafetensors, type RawTensor } from '../src/io/safetensors.js';

/** The golden fixture checkpoints, found upwards from this file (it also runs compiled from a build folder). */
function findFixtures(): string {
  for (let d = dirname(fileURLToPath(import.meta.url)); ; d = dirname(d)) {
    const p = join(d, 'test', 'fixtures', 'golden', 'checkpoints');
    if (existsSync(p)) return p;
    if (dirname(d) === d) throw new Error(`test/fixtures/golden/checkpoints not found above ${fileURLToPath(import.meta.url)}`);
  }
}

const FIXTURES = findFixtures();

/** Token ids of the Qwen3 tokenizer (151643 base + added tokens up to 151668). */
const TEXT_VOCAB = 151669;

/** Deterministic uniform draws (mulberry32) so every run writes the same bytes. */
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

function f32Tensor(shape: number[], fill: (i: number) => number): RawTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = fill(i);
  return { dtype: 'F32', shape, data: new Uint8Array(v.buffer) };
}

function bf16Tensor(shape: number[], fill: (i: number) => number): RawTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const v = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    f[0] = fill(i);
    v[i] = (u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 16;
  }
  return { dtype: 'BF16', shape, data: new Uint8Array(v.buffer) };
}

/** Raw tensors of a safetensors file, copied out of the mapping. */
function readRawTensors(path: string): Map<string, RawTensor> {
  const file = SafetensorsFile.open(path);
  try {
    const out = new Map<string, RawTensor>();
    for (const name of file.names) {
      const t = file.get(name);
      out.set(name, { dtype: file.info(name).fileDtype, shape: t.shape, data: t.dataSync() });
      t.dispose();
    }
    return out;
  } finally {
    file.close();
  }
}

function copyInto(srcDir: string, dstDir: string, files: string[]): void {
  mkdirSync(dstDir, { recursive: true });
  for (const f of files) copyFileSync(join(srcDir, f), join(dstDir, f));
}

/** A derive.json tokenizer folder whose base is the shared tokenizer copy at `<root>/qwen3-tokenizer`. */
function deriveTokenizer(fixture: string, dstDir: string): void {
  const rules = JSON.parse(readFileSync(join(FIXTURES, fixture, 'derive.json'), 'utf8')) as Record<string, unknown>;
  rules.base = '../qwen3-tokenizer/tokenizer.json';
  rules.tokenizer_config = '../qwen3-tokenizer/tokenizer_config.json';
  writeFileSync(join(dstDir, 'derive.json'), JSON.stringify(rules, null, 1));
}

export interface OobleckConfig {
  encoder_hidden_size: number;
  downsampling_ratios: number[];
  channel_multiples: number[];
  decoder_channels: number;
  decoder_input_channels: number;
  audio_channels: number;
}

/**
 * Visits every Oobleck module in checkpoint order (encoder, then decoder): each conv with its
 * shape (`transposed` convs store [cin, cout, k]) and each Snake with its channels. The checkpoint
 * writers differ only in how they fill these tensors.
 */
export function walkOobleck(
  cfg: OobleckConfig,
  conv: (name: string, cout: number, cin: number, k: number, bias: boolean, transposed: boolean, stride: number) => void,
  snake: (name: string, channels: number) => void,
): void {
  const res = (p: string, c: number) => {
    snake(`${p}.snake1`, c);
    conv(`${p}.conv1`, c, c, 7, true, false, 1);
    snake(`${p}.snake2`, c);
    conv(`${p}.conv2`, c, c, 1, true, false, 1);
  };
  const h = cfg.encoder_hidden_size,
    mult = [1, ...cfg.channel_multiples],
    ratios = cfg.downsampling_ratios;
  conv('encoder.conv1', h, cfg.audio_channels, 7, true, false, 1);
  ratios.forEach((st, i) => {
    const cin = h * mult[i],
      cout = h * mult[i + 1],
      p = `encoder.block.${i}`;
    for (let j = 1; j <= 3; j++) res(`${p}.res_unit${j}`, cin);
    snake(`${p}.snake1`, cin);
    conv(`${p}.conv1`, cout, cin, 2 * st, true, false, st);
  });
  snake('encoder.snake1', h * mult[mult.length - 1]);
  conv('encoder.conv2', h, h * mult[mult.length - 1], 3, true, false, 1);
  const c = cfg.decoder_channels,
    L = mult.length;
  conv('decoder.conv1', c * mult[L - 1], cfg.decoder_input_channels, 7, true, false, 1);
  [...ratios].reverse().forEach((st, i) => {
    const cin = c * mult[L - i - 1],
      cout = c * mult[L - i - 2],
      p = `decoder.block.${i}`;
    snake(`${p}.snake1`, cin);
    conv(`${p}.conv_t1`, cout, cin, 2 * st, true, true, st);
    for (let j = 1; j <= 3; j++) res(`${p}.res_unit${j}`, cout);
  });
  snake('decoder.snake1', c);
  conv('decoder.conv2', cfg.audio_channels, c, 7, false, false, 1);
}

/** Oobleck VAE weights (plain conv weights, no weight_norm split) for a config. */
function vaeTensors(cfg: OobleckConfig): Map<string, RawTensor> {
  const r = rng(1234);
  const out = new Map<string, RawTensor>();
  walkOobleck(
    cfg,
    // Uniform in ±gain/sqrt(fan_in) keeps activations O(1) through the stack.
    (name, cout, cin, k, bias, transposed) => {
      const a = 1 / Math.sqrt(cin * k);
      out.set(
        `${name}.weight`,
        f32Tensor(transposed ? [cin, cout, k] : [cout, cin, k], () => (2 * r() - 1) * a),
      );
      if (bias)
        out.set(
          `${name}.bias`,
          f32Tensor([cout], () => (2 * r() - 1) * 0.01),
        );
    },
    (name, c) => {
      out.set(
        `${name}.alpha`,
        f32Tensor([1, c, 1], () => (2 * r() - 1) * 0.1),
      );
      out.set(
        `${name}.beta`,
        f32Tensor([1, c, 1], () => (2 * r() - 1) * 0.1),
      );
    },
  );
  return out;
}

/** Writes the checkpoint root into `root` and returns it. */
export function makeTinyCheckpoints(root: string): string {
  mkdirSync(root, { recursive: true });
  copyInto(join(FIXTURES, 'qwen3-tokenizer'), join(root, 'qwen3-tokenizer'), ['tokenizer.json', 'tokenizer_config.json']);

  copyInto(join(FIXTURES, 'acestep-v15-turbo-tiny'), join(root, 'acestep-v15-turbo'), [
    'config.json',
    'model.safetensors',
    'silence_latent.pt',
  ]);
  // The base model shares every module with turbo (and the tiny weights carry null_condition_emb),
  // so the same weights with a base config exercise the CFG sampler path.
  const baseDir = join(root, 'acestep-v15-base');
  copyInto(join(FIXTURES, 'acestep-v15-turbo-tiny'), baseDir, ['model.safetensors', 'silence_latent.pt']);
  const baseCfg = JSON.parse(readFileSync(join(FIXTURES, 'acestep-v15-turbo-tiny', 'config.json'), 'utf8')) as Record<string, unknown>;
  baseCfg.is_turbo = false;
  baseCfg.model_version = 'base';
  writeFileSync(join(baseDir, 'config.json'), JSON.stringify(baseCfg, null, 1));

  const lm = join(root, 'acestep-5Hz-lm-0.6B');
  copyInto(join(FIXTURES, 'acestep-5Hz-lm-tiny-fullvocab'), lm, ['config.json', 'model.safetensors']);
  deriveTokenizer('acestep-5Hz-lm-tokenizer', lm);

  const te = join(root, 'Qwen3-Embedding-0.6B');
  mkdirSync(te, { recursive: true });
  const teCfg = JSON.parse(readFileSync(join(FIXTURES, 'Qwen3-Embedding-tiny', 'config.json'), 'utf8')) as Record<string, unknown>;
  const hidden = teCfg.hidden_size as number;
  teCfg.vocab_size = TEXT_VOCAB;
  teCfg.eos_token_id = 151643;
  writeFileSync(join(te, 'config.json'), JSON.stringify(teCfg, null, 1));
  const teW = readRawTensors(join(FIXTURES, 'Qwen3-Embedding-tiny', 'model.safetensors'));
  const r = rng(99);
  // Normal-ish (sum of uniforms) at the config's initializer_range.
  teW.set(
    'embed_tokens.weight',
    bf16Tensor([TEXT_VOCAB, hidden], () => (r() + r() + r() - 1.5) * 0.04),
  );
  writeSafetensors(join(te, 'model.safetensors'), teW);
  deriveTokenizer('Qwen3-Embedding-tokenizer', te);

  const vae = join(root, 'vae');
  mkdirSync(vae, { recursive: true });
  const vaeCfg = {
    _class_name: 'AutoencoderOobleck',
    encoder_hidden_size: 128,
    downsampling_ratios: [2, 4],
    channel_multiples: [1, 1],
    decoder_channels: 8,
    decoder_input_channels: 64,
    audio_channels: 2,
    sampling_rate: 200,
  };
  writeFileSync(join(vae, 'config.json'), JSON.stringify(vaeCfg, null, 1));
  writeSafetensors(join(vae, 'diffusion_pytorch_model.safetensors'), vaeTensors(vaeCfg));
  return root;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: make-tiny-checkpoints <out-dir>');
    process.exit(2);
  }
  console.log(makeTinyCheckpoints(resolve(out)));
}
