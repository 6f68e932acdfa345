// The Oobleck VAE (diffusers AutoencoderOobleck, UPSTREAM.md: VAE): 48 kHz stereo audio <-> 25 Hz latents.
// Weights come from the official `vae/` folder with the legacy weight_norm tensors
// (`weight_g`, `weight_v`), fused once at load into plain conv weights. Decode and encode run
// whole or tiled with upstream's overlap-discard windows (UPSTREAM.md: VAE tiling).
import { modelDevice, openModelDir, type Weights } from './layers.js';
import { CheckpointError } from '../io/errors.js';
import { intList, posInt, readConfig } from '../io/config-fields.js';
import { AcestepError, ShapeError } from '../runtime/errors.js';
import {
  add,
  addScalar,
  conv1d,
  convTranspose1d,
  mul,
  randn,
  softplus,
  tap,
  tidy,
  DisposableStack,
  Tensor,
  type Device,
  type InputSnake,
  type MatmulPrecision,
} from '../runtime/index.js';

export interface VaeConfig {
  audioChannels: number;
  channelMultiples: number[];
  decoderChannels: number;
  decoderInputChannels: number;
  downsamplingRatios: number[];
  encoderHiddenSize: number;
  samplingRate: number;
}

/** Bad tiling arguments (chunk sizes, overlaps, budgets). */
export class VaeTilingError extends AcestepError {
  constructor(message: string) {
    super(message, 'ERR_VAE_TILING');
  }
}

/** The diffusers AutoencoderOobleck config.json fields the model needs (all required). */
const VAE_FIELDS = {
  audioChannels: posInt('audio_channels'),
  channelMultiples: intList('channel_multiples', 1),
  decoderChannels: posInt('decoder_channels'),
  decoderInputChannels: posInt('decoder_input_channels'),
  downsamplingRatios: intList('downsampling_ratios', 1),
  encoderHiddenSize: posInt('encoder_hidden_size'),
  samplingRate: posInt('sampling_rate'),
};

/** Reads and checks the diffusers config.json fields the model needs. */
export function parseVaeConfig(raw: Record<string, unknown>, file: string): VaeConfig {
  const cfg: VaeConfig = readConfig(raw, VAE_FIELDS, file);
  if (cfg.channelMultiples.length !== cfg.downsamplingRatios.length) {
    throw new CheckpointError(
      `channel_multiples (${cfg.channelMultiples.length}) and downsampling_ratios (${cfg.downsamplingRatios.length}) must have the same length`,
      file,
    );
  }
  return cfg;
}

/** Samples per latent frame: the product of the downsampling ratios (1920 for the official VAE). */
export function hopLength(cfg: VaeConfig): number {
  return cfg.downsamplingRatios.reduce((a, b) => a * b, 1);
}

// ---------------------------------------------------------------- weights

/**
 * The conv weight `name.weight`, fused from weight_norm when stored as `weight_g`/`weight_v`
 * (or the newer `parametrizations.weight.original0/1`): w = g * v / ||v||, the norm over every
 * dim but 0. Dim 0 is the output channel of a Conv1d but the input channel of a ConvTranspose1d,
 * so the same row-wise rule covers both. Fused in f64 on the host, once, and stored as f32.
 */
function loadConvWeight(w: Weights, name: string, shape: number[], device: Device): Tensor {
  if (w.has(`${name}.weight`)) return Tensor.fromArray(hostValues(w, `${name}.weight`, shape), shape, { device });
  let gName = `${name}.weight_g`,
    vName = `${name}.weight_v`;
  if (!w.has(gName) && w.has(`${name}.parametrizations.weight.original0`)) {
    gName = `${name}.parametrizations.weight.original0`;
    vName = `${name}.parametrizations.weight.original1`;
  }
  if (!w.has(gName) || !w.has(vName))
    throw new CheckpointError('missing conv weight (weight, or weight_g + weight_v)', w.label, w.full(`${name}.weight_v`));
  const rows = shape[0],
    per = shape[1] * shape[2];
  const g = hostValues(w, gName, [rows, 1, 1]);
  const v = hostValues(w, vName, shape);
  const out = new Float32Array(v.length);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = r * per; i < (r + 1) * per; i++) ss += v[i] * v[i];
    const s = g[r] / Math.sqrt(ss);
    for (let i = r * per; i < (r + 1) * per; i++) out[i] = v[i] * s;
  }
  return Tensor.fromArray(out, shape, { device });
}

/** The tensor `name`, checked to be `shape`, as f32 host values. */
function hostValues(w: Weights, name: string, shape: number[]): Float32Array {
  using t = w.getShaped(name, shape);
  return t.toFloat32Sync();
}

function loadVector(w: Weights, name: string, shape: number[], device: Device): Tensor {
  return Tensor.fromArray(hostValues(w, name, shape), [shape.reduce((a, b) => a * b, 1)], { device });
}

class Conv {
  /** Multiplication precision (see OobleckVae.setPrecision). */
  precision: MatmulPrecision = 'fp32';

  constructor(
    readonly w: Tensor,
    readonly b: Tensor | null,
    readonly opts: { stride?: number; padding?: number; dilation?: number },
    readonly transposed: boolean,
  ) {}

  static load(
    src: Weights,
    name: string,
    cin: number,
    cout: number,
    k: number,
    device: Device,
    opts: { stride?: number; padding?: number; dilation?: number; transposed?: boolean; bias?: boolean } = {},
  ): Conv {
    const transposed = opts.transposed ?? false;
    const w = loadConvWeight(src, name, transposed ? [cin, cout, k] : [cout, cin, k], device);
    const b = opts.bias === false ? null : loadVector(src, `${name}.bias`, [cout], device);
    return new Conv(w, b, { stride: opts.stride, padding: opts.padding, dilation: opts.dilation }, transposed);
  }

  /**
   * conv(snake(x)) (+ residual): a Snake before a conv is applied by the conv as it reads x, so
   * snake(x) is never stored. With `overwrite` the sum is written over the residual's memory.
   */
  forward(x: Tensor, snake: Snake | null, residual?: { tensor: Tensor; overwrite: boolean }): Tensor {
    // The weights are constants: each precision's packed form is made once and kept with them.
    const opts = { ...this.opts, precision: this.precision, cacheWeight: true, inputSnake: snake?.input };
    if (this.transposed) return convTranspose1d(x, this.w, this.b, opts);
    return conv1d(x, this.w, this.b, { ...opts, residual: residual?.tensor, residualInPlace: residual?.overwrite });
  }

  dispose(): void {
    this.w.dispose();
    this.b?.dispose();
  }
}

/** Snake1d's parameters (log-scale alpha and beta [C]), applied by the conv that follows it. */
class Snake {
  readonly input: InputSnake;

  constructor(
    readonly alpha: Tensor,
    readonly beta: Tensor,
  ) {
    this.input = { alpha, beta, logScale: true };
  }

  static load(src: Weights, name: string, c: number, device: Device): Snake {
    return new Snake(loadVector(src, `${name}.alpha`, [1, c, 1], device), loadVector(src, `${name}.beta`, [1, c, 1], device));
  }

  dispose(): void {
    this.alpha.dispose();
    this.beta.dispose();
  }
}

/** y = x + conv2(snake2(conv1(snake1(x)))), conv1 k7 dilated with "same" padding, conv2 k1. */
class ResidualUnit {
  constructor(
    readonly snake1: Snake,
    readonly conv1: Conv,
    readonly snake2: Snake,
    readonly conv2: Conv,
  ) {}

  static load(src: Weights, name: string, c: number, dilation: number, device: Device): ResidualUnit {
    return new ResidualUnit(
      Snake.load(src, `${name}.snake1`, c, device),
      Conv.load(src, `${name}.conv1`, c, c, 7, device, { dilation, padding: 3 * dilation }),
      Snake.load(src, `${name}.snake2`, c, device),
      Conv.load(src, `${name}.conv2`, c, c, 1, device),
    );
  }

  /**
   * With `overwrite` the result is written over x's memory (a new view of it; x's values are gone,
   * the caller still disposes its x): only x and conv1's output are ever live, the least a unit
   * can hold. Otherwise x is left as it is and the result is a new tensor.
   */
  forward(x: Tensor, overwrite: boolean): Tensor {
    const h = this.conv1.forward(x, this.snake1);
    // The paddings keep the length, so upstream's centre crop never applies and the skip fuses.
    const y = this.conv2.forward(h, this.snake2, { tensor: x, overwrite });
    h.dispose();
    return y;
  }

  dispose(): void {
    for (const m of [this.snake1, this.conv1, this.snake2, this.conv2]) m.dispose();
  }
}

/** Runs f on x and disposes x (for chains of ops where only the last result matters). */
function step(x: Tensor, f: (x: Tensor) => Tensor): Tensor {
  const y = f(x);
  x.dispose();
  return y;
}

interface Block {
  snake: Snake;
  conv: Conv;
  res: ResidualUnit[];
}

// ---------------------------------------------------------------- model

export interface TileOptions {
  /** Latent frames per decode window (encode: audio samples per window). */
  chunkSize?: number;
  /** Frames (encode: samples) added on each side of a window and discarded after decoding. */
  overlap?: number;
  /** When chunkSize is not given, the window is sized so one window's activations fit this many bytes. */
  memoryBudgetBytes?: number;
  /** Called after each window: (done, total) over all windows of all batch items. */
  onProgress?: (done: number, total: number) => void;
}

export interface Posterior {
  /** [B, latent, T] */
  mean: Tensor;
  /** [B, latent, T]: softplus(scale) + 1e-4 */
  std: Tensor;
}

/** Default decode memory budget on the CPU when neither a chunk size nor a budget is given. */
export const DEFAULT_DECODE_BUDGET_BYTES = 4 * 1024 ** 3;
/** Upstream decode overlap in latent frames per side. */
export const DEFAULT_DECODE_OVERLAP = 64;
/** Upstream encode window (30 s) and overlap (2 s per side), in seconds of audio. */
export const DEFAULT_ENCODE_CHUNK_SECONDS = 30;
export const DEFAULT_ENCODE_OVERLAP_SECONDS = 2;

/**
 * Upstream's GPU decode chunk (latent frames) for the free device memory in bytes: >= 24 GiB 512,
 * >= 16 GiB 384, >= 12 GiB 256, otherwise 128 (UPSTREAM.md: VAE tiling; upstream's env override
 * ACESTEP_VAE_DECODE_CHUNK_SIZE is the caller's to apply through `chunkSize`).
 */
export function upstreamDecodeChunk(freeBytes: number): number {
  const gib = freeBytes / 1024 ** 3;
  return gib >= 24 ? 512 : gib >= 16 ? 384 : gib >= 12 ? 256 : 128;
}

/**
 * Upstream's overlap rule: while chunk - 2*overlap <= 0 halve the overlap (not below 4); an
 * overlap pushed under 4 is raised back to 4 when the request was at least 4.
 */
export function effectiveOverlap(chunk: number, overlap: number): number {
  const minOverlap = 4;
  let o = overlap;
  while (chunk - 2 * o <= 0 && o > minOverlap) o = Math.floor(o / 2);
  if (o < minOverlap && overlap >= minOverlap) o = minOverlap;
  return o;
}

/** One window of a tiled decode: the batch item, the latent frames it decodes and the core it keeps. */
export interface DecodeTile {
  item: number;
  coreStart: number;
  coreEnd: number;
  winStart: number;
  winEnd: number;
}

/** Window i of an overlap-discard tiling: the core it keeps and the window it decodes. */
export function tileWindows(
  length: number,
  stride: number,
  overlap: number,
): { coreStart: number; coreEnd: number; winStart: number; winEnd: number }[] {
  const n = Math.ceil(length / stride);
  const out = [];
  for (let i = 0; i < n; i++) {
    const coreStart = i * stride,
      coreEnd = Math.min(coreStart + stride, length);
    out.push({ coreStart, coreEnd, winStart: Math.max(0, coreStart - overlap), winEnd: Math.min(length, coreEnd + overlap) });
  }
  return out;
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x),
    d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new VaeTilingError(`${name} must be an integer >= ${min}, got ${v}`);
}

export class OobleckVae {
  readonly hop: number;

  private constructor(
    readonly config: VaeConfig,
    readonly device: Device,
    private readonly enc: { conv1: Conv; blocks: Block[]; snake: Snake; conv2: Conv },
    private readonly dec: { conv1: Conv; blocks: Block[]; snake: Snake; conv2: Conv },
  ) {
    this.hop = hopLength(config);
  }

  /** Loads `dir` (config.json + diffusion_pytorch_model.safetensors), fusing weight_norm. */
  static load(dir: string, opts: { device?: Device } = {}): OobleckVae {
    using folder = openModelDir(dir, parseVaeConfig);
    return OobleckVae.fromWeights(folder.config, folder.weights, opts.device);
  }

  /** Builds the VAE from `src` (tensors `encoder.*`, `decoder.*`) on `device` (default: modelDevice). */
  static fromWeights(cfg: VaeConfig, src: Weights, device?: Device): OobleckVae {
    device = modelDevice(device);
    const mult = [1, ...cfg.channelMultiples];
    const ratios = cfg.downsamplingRatios;
    // A failure part-way frees the blocks already loaded (the stack is emptied once all loaded).
    using loaded = new DisposableStack();
    const h = cfg.encoderHiddenSize;
    const encBlocks: Block[] = ratios.map((s, i) => {
      const cin = h * mult[i],
        cout = h * mult[i + 1],
        p = `encoder.block.${i}`;
      return {
        res: [1, 3, 9].map((d, j) => loaded.use(ResidualUnit.load(src, `${p}.res_unit${j + 1}`, cin, d, device))),
        snake: loaded.use(Snake.load(src, `${p}.snake1`, cin, device)),
        conv: loaded.use(Conv.load(src, `${p}.conv1`, cin, cout, 2 * s, device, { stride: s, padding: Math.ceil(s / 2) })),
      };
    });
    const dModel = h * mult[mult.length - 1];
    const enc = {
      conv1: loaded.use(Conv.load(src, 'encoder.conv1', cfg.audioChannels, h, 7, device, { padding: 3 })),
      blocks: encBlocks,
      snake: loaded.use(Snake.load(src, 'encoder.snake1', dModel, device)),
      // The head emits [mean | scale]; its width is the encoder hidden size (2 x latent channels).
      conv2: loaded.use(Conv.load(src, 'encoder.conv2', dModel, h, 3, device, { padding: 1 })),
    };
    if (h !== 2 * cfg.decoderInputChannels) {
      throw new CheckpointError(`encoder_hidden_size ${h} must be twice decoder_input_channels ${cfg.decoderInputChannels}`, src.label);
    }
    const c = cfg.decoderChannels,
      up = [...ratios].reverse(),
      L = mult.length;
    const decBlocks: Block[] = up.map((s, i) => {
      const cin = c * mult[L - i - 1],
        cout = c * mult[L - i - 2],
        p = `decoder.block.${i}`;
      return {
        snake: loaded.use(Snake.load(src, `${p}.snake1`, cin, device)),
        conv: loaded.use(
          Conv.load(src, `${p}.conv_t1`, cin, cout, 2 * s, device, { stride: s, padding: Math.ceil(s / 2), transposed: true }),
        ),
        res: [1, 3, 9].map((d, j) => loaded.use(ResidualUnit.load(src, `${p}.res_unit${j + 1}`, cout, d, device))),
      };
    });
    const dec = {
      conv1: loaded.use(Conv.load(src, 'decoder.conv1', cfg.decoderInputChannels, c * mult[L - 1], 7, device, { padding: 3 })),
      blocks: decBlocks,
      snake: loaded.use(Snake.load(src, 'decoder.snake1', c, device)),
      conv2: loaded.use(Conv.load(src, 'decoder.conv2', c, cfg.audioChannels, 7, device, { padding: 3, bias: false })),
    };
    loaded.move();
    return new OobleckVae(cfg, device, enc, dec);
  }

  /**
   * Multiplication precision of every conv: 'fp32' (default, exact) or 'bf16' (bf16-rounded
   * activations and weights, f32 accumulation; about twice the fp32 rate on CPUs with
   * avx512_bf16). Snake, biases and skip connections stay f32.
   */
  setPrecision(precision: MatmulPrecision): void {
    for (const part of [this.enc, this.dec]) {
      const convs = [part.conv1, part.conv2, ...part.blocks.flatMap((b) => [b.conv, ...b.res.flatMap((r) => [r.conv1, r.conv2])])];
      for (const c of convs) c.precision = precision;
    }
  }

  get latentChannels(): number {
    return this.config.decoderInputChannels;
  }

  /** Latents [B, latent, T] -> audio [B, audio_channels, T*hop] (no clamp, like upstream). */
  decode(z: Tensor): Tensor {
    if (z.ndim !== 3 || z.shape[1] !== this.latentChannels) {
      throw new ShapeError(`vae.decode: latents must be [B, ${this.latentChannels}, T], got [${z.shape.join(',')}]`);
    }
    if (z.device !== this.device) throw new ShapeError(`vae.decode: latents on ${z.device}, model on ${this.device}`);
    return tidy(() => {
      let x = tap('decoder.conv1', this.dec.conv1.forward(z, null));
      this.dec.blocks.forEach((blk, i) => {
        x = step(x, (t) => blk.conv.forward(t, blk.snake));
        // The residual units overwrite the transposed conv's output, which nothing else holds.
        for (const r of blk.res) x = step(x, (t) => r.forward(t, true));
        tap(`decoder.block.${i}`, x);
      });
      return tap(
        'decoder.conv2',
        step(x, (t) => this.dec.conv2.forward(t, this.dec.snake)),
      );
    });
  }

  /** Audio [B, audio_channels, N] -> the encoder output [B, 2*latent, floor-ish(N/hop)] = [mean | scale]. */
  encodeRaw(audio: Tensor): Tensor {
    if (audio.ndim !== 3 || audio.shape[1] !== this.config.audioChannels) {
      throw new ShapeError(`vae.encode: audio must be [B, ${this.config.audioChannels}, N], got [${audio.shape.join(',')}]`);
    }
    if (audio.device !== this.device) throw new ShapeError(`vae.encode: audio on ${audio.device}, model on ${this.device}`);
    if (audio.shape[2] < this.hop) throw new ShapeError(`vae.encode: audio needs at least ${this.hop} samples, got ${audio.shape[2]}`);
    return tidy(() => {
      let x = tap('encoder.conv1', this.enc.conv1.forward(audio, null));
      this.enc.blocks.forEach((blk, i) => {
        // A block's input may be held by a tap listener (tap hands on a view), so the first unit
        // writes a new tensor; the next ones overwrite the output of the one before.
        blk.res.forEach((r, j) => (x = step(x, (t) => r.forward(t, j > 0))));
        x = step(x, (t) => blk.conv.forward(t, blk.snake));
        tap(`encoder.block.${i}`, x);
      });
      return tap(
        'encoder.conv2',
        step(x, (t) => this.enc.conv2.forward(t, this.enc.snake)),
      );
    });
  }

  /** The posterior's mean and std (std = softplus(scale) + 1e-4) of raw encoder output. */
  posterior(raw: Tensor): Posterior {
    const L = this.latentChannels;
    return tidy(() => {
      const mean = raw.narrow(1, 0, L).contiguous();
      const std = addScalar(softplus(raw.narrow(1, L, L)), 1e-4);
      return { mean, std };
    });
  }

  encode(audio: Tensor): Posterior {
    return tidy(() => this.posterior(this.encodeRaw(audio)));
  }

  /**
   * A draw from the posterior, mean + std * n with n ~ N(0, 1) from the seeded Philox generator
   * (element i of the flattened [B, latent, T] tensor uses counter offset + i). Upstream draws
   * from torch's global RNG instead, so the values differ from upstream's; the distribution is
   * the same (UPSTREAM.md: VAE).
   */
  sample(p: Posterior, seed: number, offset = 0): Tensor {
    return tidy(() => add(p.mean, mul(p.std, randn(p.mean.shape, seed, { offset, device: p.mean.device }))));
  }

  /** Latent frames per decode window that keep one window's activations within `bytes`. */
  decodeChunkForBudget(bytes: number): number {
    if (!(bytes > 0)) throw new VaeTilingError(`memoryBudgetBytes must be positive, got ${bytes}`);
    // Widest stage: decoder_channels x hop samples per frame, f32. A residual unit held about six
    // such tensors at once before the convs applied Snake themselves and the skip was written in
    // place (now two, plus the block cache's slack); the factor is kept so default tiles stay as they were.
    const perFrame = this.config.decoderChannels * this.hop * 4 * 6;
    return Math.max(1, Math.floor(bytes / perFrame));
  }

  /**
   * Overlap-discard tiled decode (upstream `tiled_decode`): batch items one at a time; windows
   * `stride = chunk - 2*overlap` frames apart, each decoded with `overlap` frames of context per
   * side (clipped at the ends) and trimmed by round(added*hop) samples. T <= chunk decodes whole.
   */
  decodeTiled(z: Tensor, opts: TileOptions = {}): Tensor {
    const tiles = this.decodeTiles(z, opts);
    using stack = new DisposableStack();
    const out = stack.use(this.tiledOutput(z));
    tiles.forEach((tile, i) => {
      this.decodeTile(z, out, tile);
      opts.onProgress?.(i + 1, tiles.length);
    });
    stack.move();
    return out;
  }

  /**
   * The tiles of decodeTiled(z, opts), in order (batch item, then window), for callers that decode
   * tile by tile with decodeTile into tiledOutput(z) — e.g. to wait for each tile and stop between them.
   */
  decodeTiles(z: Tensor, opts: Omit<TileOptions, 'onProgress'> = {}): DecodeTile[] {
    if (z.ndim !== 3 || z.shape[1] !== this.latentChannels) {
      throw new ShapeError(`vae.decodeTiled: latents must be [B, ${this.latentChannels}, T], got [${z.shape.join(',')}]`);
    }
    const chunk = opts.chunkSize ?? this.decodeChunkForBudget(opts.memoryBudgetBytes ?? DEFAULT_DECODE_BUDGET_BYTES);
    checkInt('chunkSize', chunk, 1);
    const requested = opts.overlap ?? DEFAULT_DECODE_OVERLAP;
    checkInt('overlap', requested, 0);
    const overlap = effectiveOverlap(chunk, requested);
    const [B, , T] = z.shape;
    const stride = chunk - 2 * overlap;
    if (T > chunk && stride <= 0) throw new VaeTilingError(`chunkSize ${chunk} must be > 2 * overlap ${overlap}`);
    const windows = T <= chunk ? [{ coreStart: 0, coreEnd: T, winStart: 0, winEnd: T }] : tileWindows(T, stride, overlap);
    return Array.from({ length: B }, (_, item) => windows.map((w) => ({ item, ...w }))).flat();
  }

  /** The (uninitialised) audio [B, audio_channels, T * hop] that the tiles of `z` fill. */
  tiledOutput(z: Tensor): Tensor {
    return Tensor.empty([z.shape[0], this.config.audioChannels, z.shape[2] * this.hop], 'f32', z.device);
  }

  /** Decodes one tile's window of `z` and writes its core into `out` (queued like any op). */
  decodeTile(z: Tensor, out: Tensor, t: DecodeTile): void {
    tidy(() => {
      const zw = z.narrow(0, t.item, 1).narrow(2, t.winStart, t.winEnd - t.winStart);
      const audio = this.decode(zw);
      const trimStart = (t.coreStart - t.winStart) * this.hop;
      const core = audio.narrow(2, trimStart, (t.coreEnd - t.coreStart) * this.hop);
      out
        .narrow(0, t.item, 1)
        .narrow(2, t.coreStart * this.hop, core.shape[2])
        .assign(core);
    });
  }

  /**
   * Overlap-discard tiled encode (upstream `tiled_encode`) returning the posterior: windows of
   * `chunkSize` samples with `overlap` samples of context per side; each window's latents are
   * trimmed by round(added / hop) frames. Audio no longer than a chunk is encoded whole.
   */
  encodeTiled(audio: Tensor, opts: TileOptions = {}): Posterior {
    if (audio.ndim !== 3 || audio.shape[1] !== this.config.audioChannels) {
      throw new ShapeError(`vae.encodeTiled: audio must be [B, ${this.config.audioChannels}, N], got [${audio.shape.join(',')}]`);
    }
    const sr = this.config.samplingRate;
    let chunk = opts.chunkSize;
    if (chunk === undefined && opts.memoryBudgetBytes !== undefined) {
      // Encoder activations peak at encoder_hidden_size channels per input sample, ~6 tensors live.
      chunk = Math.floor(opts.memoryBudgetBytes / (this.config.encoderHiddenSize * 4 * 6));
      chunk -= chunk % this.hop;
    }
    chunk ??= DEFAULT_ENCODE_CHUNK_SECONDS * sr;
    const overlap = opts.overlap ?? DEFAULT_ENCODE_OVERLAP_SECONDS * sr;
    checkInt('chunkSize', chunk, this.hop);
    checkInt('overlap', overlap, 0);
    const N = audio.shape[2];
    if (N <= chunk) {
      const p = this.encode(audio);
      opts.onProgress?.(1, 1);
      return p;
    }
    const stride = chunk - 2 * overlap;
    if (stride <= 0) throw new VaeTilingError(`chunkSize ${chunk} must be > 2 * overlap ${overlap}`);
    const windows = tileWindows(N, stride, overlap);
    const L = this.latentChannels;
    using partsStack = new DisposableStack();
    const parts: Tensor[] = [];
    let frames = 0;
    // Upstream measures the samples-per-frame ratio on the first window and reuses it.
    let factor = 0;
    windows.forEach((w, i) => {
      const raw = tidy(() => {
        const r = this.encodeRaw(audio.narrow(2, w.winStart, w.winEnd - w.winStart));
        if (i === 0) factor = (w.winEnd - w.winStart) / r.shape[2];
        const trimStart = roundHalfEven((w.coreStart - w.winStart) / factor);
        const trimEnd = roundHalfEven((w.winEnd - w.coreEnd) / factor);
        return r.narrow(2, trimStart, r.shape[2] - trimEnd - trimStart).contiguous();
      });
      parts.push(partsStack.use(raw));
      frames += raw.shape[2];
      opts.onProgress?.(i + 1, windows.length);
    });
    return tidy(() => {
      const all = Tensor.empty([audio.shape[0], 2 * L, frames], 'f32', audio.device);
      let at = 0;
      for (const p of parts) {
        all.narrow(2, at, p.shape[2]).assign(p);
        at += p.shape[2];
      }
      return this.posterior(all);
    });
  }

  dispose(): void {
    const all = [this.enc, this.dec];
    for (const part of all) {
      part.conv1.dispose();
      part.snake.dispose();
      part.conv2.dispose();
      for (const b of part.blocks) {
        b.snake.dispose();
        b.conv.dispose();
        for (const r of b.res) r.dispose();
      }
    }
  }
}
