// AceStep: the loaded models of one checkpoint root in the official layout (UPSTREAM.md: Checkpoint layout):
// `<root>/acestep-v15-*` (DiT, condition encoder, audio tokenizer, silence latent),
// `<root>/Qwen3-Embedding-0.6B` (text encoder + tokenizer), `<root>/vae` and, loaded on first use,
// `<root>/acestep-5Hz-lm-*` (the 5 Hz LM + tokenizer). Without a root, the same folders are looked up
// in the Hugging Face cache (src/io/hub-cache.ts). dispose() frees every native tensor.
import { existsSync, statSync } from 'node:fs';
import {
  BACKEND_CHOICES,
  resolveBackend,
  resolvePrecision,
  type BackendChoice,
  type Device,
  type MatmulPrecision,
  type PrecisionChoice,
  flush,
  keep,
  tidy,
  Tensor,
} from '../runtime/index.js';
import { CheckpointError } from '../io/errors.js';
import { checkpointSource, type CheckpointSource } from '../io/hub-cache.js';
import { loadSilenceLatent } from '../io/torch-zip.js';
import { f32Param, openAceStepCheckpoint, type AceStepConfig } from '../models/acestep-config.js';
import { AdapterManager, applyLoraOptions } from '../models/lora.js';
import { AceStepDiT } from '../models/dit.js';
import { quantizeLinearsW8A8, setPrecision } from '../models/layers.js';
import { ConditionEncoder } from '../models/condition-encoder.js';
import { AudioTokenizer } from '../models/audio-tokenizer.js';
import { OobleckVae } from '../models/vae.js';
import { Qwen3Model, type LmQuantization } from '../models/qwen3.js';
import { TextTokenizer } from '../text/index.js';
import { silenceFrames } from './task-assembly.js';
import type { LmBundle } from './lm/planner.js';
import type { SamplerVariant } from './diffusion/sampler.js';
import { ParamError } from './params.js';

/** DiT folders tried in this order when none is named. */
export const DIT_MODEL_NAMES = [
  'acestep-v15-turbo',
  'acestep-v15-xl-turbo',
  'acestep-v15-sft',
  'acestep-v15-base',
  'acestep-v15-xl-sft',
  'acestep-v15-xl-base',
];
/** LM folders tried in this order when none is named (upstream's default is the 1.7B). */
export const LM_MODEL_NAMES = ['acestep-5Hz-lm-1.7B', 'acestep-5Hz-lm-0.6B', 'acestep-5Hz-lm-4B'];
export const TEXT_ENCODER_NAME = 'Qwen3-Embedding-0.6B';
export const VAE_NAME = 'vae';

export interface AceStepOptions {
  /** Checkpoint root folder; absent = the official models in the Hugging Face cache. */
  checkpoints?: string | null;
  device?: BackendChoice;
  /** DiT folder name under the root (default: the first of DIT_MODEL_NAMES present). */
  ditModel?: string;
  /** LM folder name (default: the first of LM_MODEL_NAMES present); null = no LM. */
  lmModel?: string | null;
  /** Load the LM now instead of on first use. */
  preloadLm?: boolean;
  /** The LM's context window (upstream max_model_len, default 4096); token budgets stay 64 below it. */
  lmMaxModelLen?: number;
  /** A LoRA/LoKr adapter (PEFT folder or LoKr safetensors) for the DiT decoder, loaded as 'default'. */
  loraPath?: string | null;
  /** Its user scale (default 1). */
  loraScale?: number;
  /**
   * Matrix-product precision of the DiT, condition encoder, text encoder, LM and the VAE's convs:
   * 'bf16' (bf16 operands, f32 accumulation), 'fp32' (exact), or 'auto' (default: bf16 on CUDA or
   * a CPU with avx512_bf16).
   */
  precision?: PrecisionChoice;
  /**
   * Weight quantization of the DiT and its condition encoder, upstream's `quantization` values:
   * 'w8a8_dynamic' (int8 weights per output row, activations quantized per row at each call,
   * integer products: vpdpbusd on CPUs with avx512_vnni), or 'none' / null / 'auto' (default: no
   * quantization; upstream's auto quantizes only the XL DiT, on small GPUs). Upstream's
   * 'int8_weight_only' and 'fp8_weight_only' are not implemented here (ParamError). Adapters cannot
   * be loaded onto a quantized DiT (as upstream).
   */
  quantization?: DitQuantization | null;
  /**
   * Weight storage of the 5 Hz LM (not the text encoder): 'none' (default) keeps the checkpoint's
   * weights; 'int8' quantizes its linear layers and head at load to int8 rows with one f32 scale per
   * row (symmetric, per output channel): about half the bytes per decode step against bf16, logits
   * within the quality band in docs/PERFORMANCE.md. Upstream's 'int8_weight_only' means the same.
   */
  lmQuantization?: LmQuantizationChoice;
  /** Told before and after each model is read from disk (the LM: on first use). */
  onLoad?: (e: LoadEvent) => void;
}

/** Upstream's DiT `quantization` values this engine accepts (see AceStepOptions.quantization). */
export type DitQuantization = 'none' | 'auto' | 'w8a8_dynamic';

function resolveQuantization(q: unknown): 'none' | 'w8a8_dynamic' {
  if (q === undefined || q === null || q === 'none' || q === 'auto') return 'none';
  if (q === 'w8a8_dynamic') return q;
  const upstreamOnly =
    q === 'int8_weight_only' || q === 'fp8_weight_only' ? ` ('${q}' is an upstream mode this engine does not implement)` : '';
  throw new ParamError('quantization', `must be 'none', 'auto' or 'w8a8_dynamic', got ${JSON.stringify(q)}${upstreamOnly}`);
}

/** `AceStepOptions.lmQuantization`: ours, or upstream's name for int8 weight-only quantization. */
export type LmQuantizationChoice = LmQuantization | 'int8_weight_only';
export const LM_QUANTIZATION_CHOICES: readonly LmQuantizationChoice[] = ['none', 'int8', 'int8_weight_only'];

export interface LoadEvent {
  model: 'dit' | 'text-encoder' | 'vae' | 'lm';
  dir: string;
  done: boolean;
}

function isDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}

function pick(src: CheckpointSource, named: string | undefined, candidates: string[], what: string): string {
  if (named !== undefined) {
    const dir = src.find(named);
    if (!dir) throw new CheckpointError(`${what} folder '${named}' does not exist${src.hint([named])}`, src.root);
    return dir;
  }
  for (const c of candidates) {
    const dir = src.find(c);
    if (dir) return dir;
  }
  throw new CheckpointError(`no ${what} folder (looked for ${candidates.join(', ')})${src.hint(candidates)}`, src.root);
}

export class AceStep {
  readonly device: Device;
  /** The resolved matrix-product precision of the transformer models and the VAE convs. */
  readonly precision: MatmulPrecision;
  /** The DiT / condition encoder quantization in effect. */
  readonly quantization: 'none' | 'w8a8_dynamic';
  /** The LM's weight storage ('int8_weight_only' resolved to 'int8'). */
  readonly lmQuantization: LmQuantization;
  readonly root: string;
  readonly ditDir: string;
  readonly ditConfig: AceStepConfig;
  readonly variant: SamplerVariant;
  readonly dit: AceStepDiT;
  readonly conditionEncoder: ConditionEncoder;
  readonly audioTokenizer: AudioTokenizer;
  /** `[1, Ts, C]` f32 on the host. */
  readonly silenceLatent: Tensor;
  /** `[1, 1, H_enc]` for base/SFT guidance; null on turbo. */
  readonly nullConditionEmb: Tensor | null;
  readonly textEncoder: Qwen3Model;
  readonly textTokenizer: TextTokenizer;
  readonly vae: OobleckVae;
  readonly lmDir: string | null;
  readonly lmMaxModelLen: number;
  /**
   * LoRA/LoKr adapters on the DiT decoder: load, switch, rescale or unload without reloading it.
   * A generation uses the state of its start (see AdapterSnapshot); operations after dispose() throw.
   */
  readonly adapters: AdapterManager;
  private lm: LmBundle | null = null;
  private silenceTimbreCache: { frames: number; emb: Tensor } | null = null;
  private readonly onLoad: (e: LoadEvent) => void;
  private readonly lmHint: string;
  private disposed = false;

  private constructor(opts: AceStepOptions) {
    const src = checkpointSource(opts.checkpoints);
    this.root = src.root;
    if (opts.checkpoints && !isDir(this.root)) throw new CheckpointError('checkpoint root folder does not exist', this.root);
    this.onLoad = opts.onLoad ?? (() => {});
    this.lmHint = src.hint(LM_MODEL_NAMES);
    this.lmMaxModelLen = opts.lmMaxModelLen ?? 4096;
    if (!Number.isInteger(this.lmMaxModelLen) || this.lmMaxModelLen < 256)
      throw new ParamError('lmMaxModelLen', `must be an integer >= 256, got ${opts.lmMaxModelLen}`);
    if (opts.device !== undefined && !BACKEND_CHOICES.includes(opts.device))
      throw new ParamError('device', `must be one of ${BACKEND_CHOICES.join(', ')}, got ${JSON.stringify(opts.device)}`);
    this.device = resolveBackend(opts.device ?? 'auto');
    const precision = opts.precision ?? 'auto';
    if (precision !== 'fp32' && precision !== 'bf16' && precision !== 'auto')
      throw new ParamError('precision', `must be 'fp32', 'bf16' or 'auto', got '${String(precision)}'`);
    this.precision = resolvePrecision(precision, this.device);
    this.quantization = resolveQuantization(opts.quantization);
    const lmQuantization = opts.lmQuantization ?? 'none';
    if (!LM_QUANTIZATION_CHOICES.includes(lmQuantization))
      throw new ParamError(
        'lmQuantization',
        `must be one of ${LM_QUANTIZATION_CHOICES.map((c) => `'${c}'`).join(', ')}, got '${String(lmQuantization)}'`,
      );
    this.lmQuantization = lmQuantization === 'none' ? 'none' : 'int8';
    this.ditDir = pick(src, opts.ditModel, DIT_MODEL_NAMES.concat(src.names().filter((n) => n.startsWith('acestep-v15'))), 'DiT');
    const teDir = pick(src, undefined, [TEXT_ENCODER_NAME], 'text encoder');
    const vaeDir = pick(src, undefined, [VAE_NAME], 'VAE');
    this.lmDir =
      opts.lmModel === null
        ? null
        : (() => {
            try {
              return pick(src, opts.lmModel, LM_MODEL_NAMES.concat(src.names().filter((n) => n.startsWith('acestep-5Hz-lm'))), 'LM');
            } catch (e) {
              if (opts.lmModel !== undefined) throw e;
              return null;
            }
          })();

    const made: { dispose(): void }[] = [];
    const owned = <T extends { dispose(): void }>(m: T): T => {
      made.push(m);
      return m;
    };
    const dev = this.device;
    try {
      this.onLoad({ model: 'dit', dir: this.ditDir, done: false });
      const { ckpt, config, weights } = openAceStepCheckpoint(this.ditDir);
      try {
        this.ditConfig = config;
        this.variant = config.isTurbo ? 'turbo' : /sft/i.test(config.modelVersion ?? this.ditDir) ? 'sft' : 'base';
        this.dit = owned(new AceStepDiT(weights, config, dev));
        this.conditionEncoder = owned(new ConditionEncoder(weights, config, dev));
        this.audioTokenizer = owned(new AudioTokenizer(weights, config, dev));
        this.nullConditionEmb =
          this.variant === 'turbo' ? null : owned(f32Param(weights, 'null_condition_emb', [1, 1, config.encoderHiddenSize], dev));
      } finally {
        ckpt.dispose();
      }
      this.silenceLatent = owned(loadSilenceLatent(this.ditDir));
      if (this.silenceLatent.shape[2] !== config.audioAcousticHiddenDim) {
        throw new CheckpointError(
          `silence latent has ${this.silenceLatent.shape[2]} channels, the DiT uses ${config.audioAcousticHiddenDim}`,
          this.ditDir,
          'silence_latent',
        );
      }
      this.onLoad({ model: 'dit', dir: this.ditDir, done: true });
      this.onLoad({ model: 'text-encoder', dir: teDir, done: false });
      this.textEncoder = owned(Qwen3Model.load(teDir, { device: dev, lmHead: false }));
      this.textTokenizer = TextTokenizer.load(teDir);
      this.onLoad({ model: 'text-encoder', dir: teDir, done: true });
      if (this.textEncoder.config.hiddenSize !== config.textHiddenDim) {
        throw new CheckpointError(
          `text encoder width ${this.textEncoder.config.hiddenSize} differs from the DiT's text_hidden_dim ${config.textHiddenDim}`,
          teDir,
        );
      }
      this.onLoad({ model: 'vae', dir: vaeDir, done: false });
      this.vae = owned(OobleckVae.load(vaeDir, { device: dev }));
      this.vae.setPrecision(this.precision);
      this.onLoad({ model: 'vae', dir: vaeDir, done: true });
      if (this.vae.latentChannels !== config.audioAcousticHiddenDim) {
        throw new CheckpointError(
          `VAE latent channels ${this.vae.latentChannels} differ from the DiT's ${config.audioAcousticHiddenDim}`,
          vaeDir,
        );
      }
      for (const m of [this.dit, this.conditionEncoder, this.textEncoder]) setPrecision(m, this.precision);
      if (this.quantization === 'w8a8_dynamic') for (const m of [this.dit, this.conditionEncoder]) quantizeLinearsW8A8(m);
      this.adapters = owned(
        applyLoraOptions(this.dit, { loraPath: opts.loraPath, loraScale: opts.loraScale }, { checkAlive: () => this.checkAlive() }),
      );
    } catch (e) {
      for (const m of made) m.dispose();
      throw e;
    }
  }

  /** The adapter state the next generation starts from (upstream lora_loaded / use_lora / lora_scale). */
  loraState(): { loraLoaded: boolean; useLora: boolean; loraScale: number; loraName: string | null } {
    const active = this.adapters.active;
    const info = this.adapters.list().find((a) => a.name === active);
    return { loraLoaded: this.adapters.list().length > 0, useLora: active !== null, loraScale: info?.scale ?? 1, loraName: active };
  }

  /** Loads the models of a checkpoint root (the LM waits for its first use unless preloadLm). */
  static async load(opts: AceStepOptions): Promise<AceStep> {
    const e = new AceStep(opts);
    try {
      // Quantization (and the LM's fused copies) run on the op queue: finish them here, so their
      // time counts as loading and a weight they reject fails the load rather than the first
      // generation.
      if (opts.preloadLm) e.getLm();
      if (e.quantization !== 'none' || opts.preloadLm) await flush();
    } catch (err) {
      e.dispose();
      throw err;
    }
    return e;
  }

  /** Audio sample rate of the VAE (48000 for the official one). */
  get sampleRate(): number {
    return this.vae.config.samplingRate;
  }

  /** Samples per latent frame (1920 for the official VAE: 25 latent frames per second). */
  get hop(): number {
    return this.vae.hop;
  }

  /** Latent frames per second. */
  get frameRate(): number {
    return this.sampleRate / this.hop;
  }

  get hasLm(): boolean {
    return this.lmDir !== null;
  }

  get lmLoaded(): boolean {
    return this.lm !== null;
  }

  /** The LM and its tokenizer, loaded on first call. */
  getLm(): LmBundle {
    this.checkAlive();
    if (!this.lmDir) throw new CheckpointError(`no 5 Hz LM folder (looked for ${LM_MODEL_NAMES.join(', ')})${this.lmHint}`, this.root);
    if (!this.lm) {
      this.onLoad({ model: 'lm', dir: this.lmDir, done: false });
      const tokenizer = TextTokenizer.load(this.lmDir);
      const model = Qwen3Model.load(this.lmDir, { device: this.device, quantization: this.lmQuantization });
      setPrecision(model, this.precision);
      this.lm = { model, tokenizer };
      this.onLoad({ model: 'lm', dir: this.lmDir, done: true });
    }
    return this.lm;
  }

  /**
   * The timbre embedding `[1, H_enc]` of the silence reference that stands in for missing reference
   * audio (the silence latent's first `frames` frames, UPSTREAM.md: Reference audio), computed on
   * first use and kept: it depends only on the silence latent and the condition encoder, both fixed
   * for the engine's life (adapters apply to the DiT decoder only).
   */
  async silenceTimbre(frames: number): Promise<Tensor> {
    this.checkAlive();
    if (this.silenceTimbreCache?.frames !== frames) {
      const [, ts, C] = this.silenceLatent.shape;
      const data = await this.silenceLatent.toFloat32();
      const emb = keep(
        tidy(() =>
          this.conditionEncoder.encodeTimbre(
            Tensor.fromArray(silenceFrames({ data, frames: ts, C }, 0, frames), [1, frames, C], { device: this.device }),
          ),
        ),
      );
      this.silenceTimbreCache?.emb.dispose();
      this.silenceTimbreCache = { frames, emb };
    }
    return this.silenceTimbreCache.emb;
  }

  checkAlive(): void {
    if (this.disposed) throw new CheckpointError('the AceStep engine was disposed', this.root);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.adapters.dispose();
    for (const m of [
      this.dit,
      this.conditionEncoder,
      this.audioTokenizer,
      this.silenceLatent,
      this.nullConditionEmb,
      this.textEncoder,
      this.vae,
    ])
      m?.dispose();
    this.lm?.model.dispose();
    this.lm = null;
    this.silenceTimbreCache?.emb.dispose();
    this.silenceTimbreCache = null;
  }
}
