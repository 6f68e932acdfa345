// AceStep: the loaded models of one checkpoint root in the official layout (spec 2.1):
// `<root>/acestep-v15-*` (DiT, condition encoder, audio tokenizer, silence latent),
// `<root>/Qwen3-Embedding-0.6B` (text encoder + tokenizer), `<root>/vae` and, loaded on first use,
// `<root>/acestep-5Hz-lm-*` (the 5 Hz LM + tokenizer). dispose() frees every native tensor.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BACKEND_CHOICES, resolveBackend, type BackendChoice, type Device, type Tensor } from '../runtime/index.js';
import { CheckpointError } from '../io/errors.js';
import { loadSilenceLatent } from '../io/torch-zip.js';
import { f32Param, openAceStepCheckpoint, type AceStepConfig } from '../models/acestep-config.js';
import { AdapterManager, applyLoraOptions } from '../models/lora.js';
import { AceStepDiT } from '../models/dit.js';
import { ConditionEncoder } from '../models/condition-encoder.js';
import { AudioTokenizer } from '../models/audio-tokenizer.js';
import { OobleckVae } from '../models/vae.js';
import { Qwen3Model } from '../models/qwen3.js';
import { TextTokenizer } from '../text/index.js';
import type { LmBundle } from './lm/planner.js';
import type { SamplerVariant } from './diffusion/sampler.js';
import { ParamError } from './params.js';

/** DiT folders tried in this order when none is named. */
export const DIT_MODEL_NAMES = ['acestep-v15-turbo', 'acestep-v15-xl-turbo', 'acestep-v15-sft', 'acestep-v15-base', 'acestep-v15-xl-sft', 'acestep-v15-xl-base'];
/** LM folders tried in this order when none is named (upstream's default is the 1.7B). */
export const LM_MODEL_NAMES = ['acestep-5Hz-lm-1.7B', 'acestep-5Hz-lm-0.6B', 'acestep-5Hz-lm-4B'];
export const TEXT_ENCODER_NAME = 'Qwen3-Embedding-0.6B';
export const VAE_NAME = 'vae';

export interface AceStepOptions {
  /** Checkpoint root folder. */
  checkpoints: string;
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
}

function isDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}

function pick(root: string, named: string | undefined, candidates: string[], what: string): string {
  if (named !== undefined) {
    const dir = join(root, named);
    if (!isDir(dir)) throw new CheckpointError(`${what} folder '${named}' does not exist`, dir);
    return dir;
  }
  for (const c of candidates) if (isDir(join(root, c))) return join(root, c);
  throw new CheckpointError(`no ${what} folder (looked for ${candidates.join(', ')})`, root);
}

export class AceStep {
  readonly device: Device;
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
  /** LoRA/LoKr adapters on the DiT decoder: load, switch, rescale or unload without reloading it. */
  readonly adapters: AdapterManager;
  private lm: LmBundle | null = null;
  private disposed = false;

  private constructor(opts: AceStepOptions) {
    this.root = resolve(opts.checkpoints);
    if (!isDir(this.root)) throw new CheckpointError('checkpoint root folder does not exist', this.root);
    this.lmMaxModelLen = opts.lmMaxModelLen ?? 4096;
    if (!Number.isInteger(this.lmMaxModelLen) || this.lmMaxModelLen < 256) throw new ParamError('lmMaxModelLen', `must be an integer >= 256, got ${opts.lmMaxModelLen}`);
    if (opts.device !== undefined && !BACKEND_CHOICES.includes(opts.device)) throw new ParamError('device', `must be one of ${BACKEND_CHOICES.join(', ')}, got ${JSON.stringify(opts.device)}`);
    this.device = resolveBackend(opts.device ?? 'auto');
    this.ditDir = pick(this.root, opts.ditModel, DIT_MODEL_NAMES.concat(readdirSync(this.root).filter((n) => n.startsWith('acestep-v15'))), 'DiT');
    const teDir = pick(this.root, undefined, [TEXT_ENCODER_NAME], 'text encoder');
    const vaeDir = pick(this.root, undefined, [VAE_NAME], 'VAE');
    this.lmDir = opts.lmModel === null ? null : (() => {
      try {
        return pick(this.root, opts.lmModel, LM_MODEL_NAMES.concat(readdirSync(this.root).filter((n) => n.startsWith('acestep-5Hz-lm'))), 'LM');
      } catch (e) {
        if (opts.lmModel !== undefined) throw e;
        return null;
      }
    })();

    const made: { dispose(): void }[] = [];
    const keep = <T extends { dispose(): void }>(m: T): T => {
      made.push(m);
      return m;
    };
    const dev = this.device;
    try {
      const { ckpt, config, weights } = openAceStepCheckpoint(this.ditDir);
      try {
        this.ditConfig = config;
        this.variant = config.isTurbo ? 'turbo' : /sft/i.test(config.modelVersion ?? this.ditDir) ? 'sft' : 'base';
        this.dit = keep(new AceStepDiT(weights, config, dev));
        this.conditionEncoder = keep(new ConditionEncoder(weights, config, dev));
        this.audioTokenizer = keep(new AudioTokenizer(weights, config, dev));
        this.nullConditionEmb = this.variant === 'turbo' ? null : keep(f32Param(weights, 'null_condition_emb', [1, 1, config.encoderHiddenSize], dev));
      } finally {
        ckpt.dispose();
      }
      this.silenceLatent = keep(loadSilenceLatent(this.ditDir));
      if (this.silenceLatent.shape[2] !== config.audioAcousticHiddenDim) {
        throw new CheckpointError(`silence latent has ${this.silenceLatent.shape[2]} channels, the DiT uses ${config.audioAcousticHiddenDim}`, this.ditDir, 'silence_latent');
      }
      this.textEncoder = keep(Qwen3Model.load(teDir, { device: dev, lmHead: false }));
      this.textTokenizer = TextTokenizer.load(teDir);
      if (this.textEncoder.config.hiddenSize !== config.textHiddenDim) {
        throw new CheckpointError(`text encoder width ${this.textEncoder.config.hiddenSize} differs from the DiT's text_hidden_dim ${config.textHiddenDim}`, teDir);
      }
      this.vae = keep(OobleckVae.load(vaeDir, { device: dev }));
      if (this.vae.latentChannels !== config.audioAcousticHiddenDim) {
        throw new CheckpointError(`VAE latent channels ${this.vae.latentChannels} differ from the DiT's ${config.audioAcousticHiddenDim}`, vaeDir);
      }
      this.adapters = keep(applyLoraOptions(this.dit, { loraPath: opts.loraPath, loraScale: opts.loraScale }));
    } catch (e) {
      for (const m of made) m.dispose();
      throw e;
    }
  }

  /** What the result records say about adapters (upstream lora_loaded / use_lora / lora_scale). */
  loraState(): { loraLoaded: boolean; useLora: boolean; loraScale: number; loraName: string | null } {
    const active = this.adapters.active;
    const info = this.adapters.list().find((a) => a.name === active);
    return { loraLoaded: this.adapters.list().length > 0, useLora: active !== null, loraScale: info?.scale ?? 1, loraName: active };
  }

  /** Loads the models of a checkpoint root (the LM waits for its first use unless preloadLm). */
  static async load(opts: AceStepOptions): Promise<AceStep> {
    const e = new AceStep(opts);
    if (opts.preloadLm) e.getLm();
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
    if (!this.lmDir) throw new CheckpointError(`no 5 Hz LM folder (looked for ${LM_MODEL_NAMES.join(', ')})`, this.root);
    if (!this.lm) {
      const tokenizer = TextTokenizer.load(this.lmDir);
      this.lm = { model: Qwen3Model.load(this.lmDir, { device: this.device }), tokenizer };
    }
    return this.lm;
  }

  checkAlive(): void {
    if (this.disposed) throw new CheckpointError('the AceStep engine was disposed', this.root);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.adapters.dispose();
    for (const m of [this.dit, this.conditionEncoder, this.audioTokenizer, this.silenceLatent, this.nullConditionEmb, this.textEncoder, this.vae]) m?.dispose();
    this.lm?.model.dispose();
    this.lm = null;
  }
}
