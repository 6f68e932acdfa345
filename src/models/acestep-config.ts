// The ACE-Step 1.5 DiT checkpoint config (config.json of the turbo/sft/base 2B and XL folders)
// in typed form, and opening such a folder for the condition encoder, audio tokenizer and DiT.
import { CheckpointError } from '../io/errors.js';
import { Checkpoint } from '../io/checkpoint.js';
import type { Device } from '../runtime/dtype.js';
import type { Tensor } from '../runtime/tensor.js';
import { place, Weights } from './layers.js';

export interface AceStepConfig {
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  ropeTheta: number;
  rmsNormEps: number;
  /** Bidirectional window |i-j| <= slidingWindow on sliding layers (null: no sliding layers). */
  slidingWindow: number | null;
  /** 'sliding_attention' | 'full_attention' per layer index; sub-encoders use the same list. */
  layerTypes: string[];
  inChannels: number;
  audioAcousticHiddenDim: number;
  patchSize: number;
  textHiddenDim: number;
  timbreHiddenDim: number;
  numLyricEncoderHiddenLayers: number;
  numTimbreEncoderHiddenLayers: number;
  numAttentionPoolerHiddenLayers: number;
  poolWindowSize: number;
  fsqLevels: number[];
  fsqNumQuantizers: number;
  /** Encoder-stack widths: equal to the decoder's on 2B, separate keys on XL. */
  encoderHiddenSize: number;
  encoderIntermediateSize: number;
  encoderNumAttentionHeads: number;
  encoderNumKeyValueHeads: number;
  /**
   * XL layout: the config carries the encoder_* keys. XL's timbre encoder prepends its special
   * token and reads position 0 of the result; 2B reads frame 0 without a prepend.
   */
  isXL: boolean;
  isTurbo: boolean;
  modelVersion: string | null;
  /** config torch_dtype (the stored weights may still differ; each tensor's dtype is read from the file). */
  torchDtype: string | null;
}

function num(cfg: Record<string, unknown>, key: string, path: string, fallback?: number): number {
  const v = cfg[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new CheckpointError(`config.json lacks '${key}'`, path);
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new CheckpointError(`config.json '${key}' is not a number: ${JSON.stringify(v)}`, path);
  return v;
}

function posInt(cfg: Record<string, unknown>, key: string, path: string, fallback?: number): number {
  const v = num(cfg, key, path, fallback);
  if (!Number.isInteger(v) || v <= 0) throw new CheckpointError(`config.json '${key}' must be a positive integer, got ${v}`, path);
  return v;
}

/** Parses an AceStepConfig object (as in config.json); `path` names the file in errors. */
export function parseAceStepConfig(cfg: Record<string, unknown>, path = 'config.json'): AceStepConfig {
  const hiddenSize = posInt(cfg, 'hidden_size', path);
  const intermediateSize = posInt(cfg, 'intermediate_size', path);
  const numAttentionHeads = posInt(cfg, 'num_attention_heads', path);
  const numKeyValueHeads = posInt(cfg, 'num_key_value_heads', path);
  const numHiddenLayers = posInt(cfg, 'num_audio_decoder_hidden_layers', path, num(cfg, 'num_hidden_layers', path));
  const headDim = posInt(cfg, 'head_dim', path, hiddenSize / numAttentionHeads);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    throw new CheckpointError(`num_attention_heads ${numAttentionHeads} is not a multiple of num_key_value_heads ${numKeyValueHeads}`, path);
  }
  const useSliding = cfg.use_sliding_window === undefined ? true : Boolean(cfg.use_sliding_window);
  const slidingWindow = useSliding && cfg.sliding_window != null ? posInt(cfg, 'sliding_window', path) : null;
  let layerTypes: string[];
  if (Array.isArray(cfg.layer_types)) {
    layerTypes = cfg.layer_types.map((t, i) => {
      if (t !== 'sliding_attention' && t !== 'full_attention') throw new CheckpointError(`config.json layer_types[${i}] is ${JSON.stringify(t)}`, path);
      return t;
    });
  } else {
    // Upstream default: even layer indices slide, odd ones attend fully.
    layerTypes = Array.from({ length: numHiddenLayers }, (_, i) => ((i + 1) % 2 ? 'sliding_attention' : 'full_attention'));
  }
  // XL reads all four encoder_* keys unconditionally; 2B falls back to the decoder values.
  const isXL = cfg.encoder_hidden_size != null;
  const enc = (key: string, decoderValue: number): number => posInt(cfg, key, path, isXL ? undefined : decoderValue);
  const encoderHiddenSize = enc('encoder_hidden_size', hiddenSize);
  const encoderNumAttentionHeads = enc('encoder_num_attention_heads', numAttentionHeads);
  const encoderNumKeyValueHeads = enc('encoder_num_key_value_heads', numKeyValueHeads);
  if (encoderNumAttentionHeads % encoderNumKeyValueHeads !== 0) {
    throw new CheckpointError(`encoder_num_attention_heads ${encoderNumAttentionHeads} is not a multiple of encoder_num_key_value_heads ${encoderNumKeyValueHeads}`, path);
  }
  const levels = cfg.fsq_input_levels ?? [8, 8, 8, 5, 5, 5];
  if (!Array.isArray(levels) || levels.length === 0 || levels.some((l) => !Number.isInteger(l) || (l as number) < 2)) {
    throw new CheckpointError(`config.json fsq_input_levels must be a list of integers >= 2, got ${JSON.stringify(levels)}`, path);
  }
  return {
    hiddenSize,
    intermediateSize,
    numHiddenLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    ropeTheta: num(cfg, 'rope_theta', path, 1e6),
    rmsNormEps: num(cfg, 'rms_norm_eps', path, 1e-6),
    slidingWindow,
    layerTypes,
    inChannels: posInt(cfg, 'in_channels', path, 192),
    audioAcousticHiddenDim: posInt(cfg, 'audio_acoustic_hidden_dim', path, 64),
    patchSize: posInt(cfg, 'patch_size', path, 2),
    textHiddenDim: posInt(cfg, 'text_hidden_dim', path, 1024),
    timbreHiddenDim: posInt(cfg, 'timbre_hidden_dim', path, 64),
    numLyricEncoderHiddenLayers: posInt(cfg, 'num_lyric_encoder_hidden_layers', path, 8),
    numTimbreEncoderHiddenLayers: posInt(cfg, 'num_timbre_encoder_hidden_layers', path, 4),
    numAttentionPoolerHiddenLayers: posInt(cfg, 'num_attention_pooler_hidden_layers', path, 2),
    poolWindowSize: posInt(cfg, 'pool_window_size', path, 5),
    fsqLevels: levels as number[],
    fsqNumQuantizers: posInt(cfg, 'fsq_input_num_quantizers', path, 1),
    encoderHiddenSize,
    encoderIntermediateSize: enc('encoder_intermediate_size', intermediateSize),
    encoderNumAttentionHeads,
    encoderNumKeyValueHeads,
    isXL,
    isTurbo: cfg.is_turbo === true,
    modelVersion: typeof cfg.model_version === 'string' ? cfg.model_version : null,
    torchDtype: typeof cfg.torch_dtype === 'string' ? cfg.torch_dtype : null,
  };
}

/** Whether layer i of any AceStep stack uses the sliding window. */
export function isSlidingLayer(cfg: AceStepConfig, i: number): boolean {
  if (cfg.slidingWindow === null) return false;
  const t = cfg.layerTypes[i] ?? ((i + 1) % 2 ? 'sliding_attention' : 'full_attention');
  return t === 'sliding_attention';
}

/**
 * A small parameter (norm-free table, special token, conv bias) as f32 on `device`: elementwise
 * ops work in f32 while a bf16 checkpoint stores it as bf16 (the upcast is exact).
 */
export function f32Param(w: Weights, name: string, shape: number[], device?: Device): Tensor {
  const t = w.getShaped(name, shape);
  if (t.dtype === 'f32' && (!device || t.device === device)) return t;
  const c = t.to('f32');
  t.dispose();
  return place(c, device);
}

/**
 * Opens a DiT checkpoint folder (config.json + model.safetensors) and parses its config. The
 * caller disposes `ckpt` once the models are built (the built models keep their own tensors).
 */
export function openAceStepCheckpoint(dir: string): { ckpt: Checkpoint; config: AceStepConfig; weights: Weights } {
  const ckpt = Checkpoint.open(dir);
  try {
    return { ckpt, config: parseAceStepConfig(ckpt.config, `${dir}/config.json`), weights: new Weights(ckpt, '', dir) };
  } catch (e) {
    ckpt.dispose();
    throw e;
  }
}
