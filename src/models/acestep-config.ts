// The ACE-Step 1.5 DiT checkpoint config (config.json of the turbo/sft/base 2B and XL folders)
// in typed form, and opening such a folder for the condition encoder, audio tokenizer and DiT.
import { CheckpointError } from '../io/errors.js';
import { enumList, finite, flag, intList, optional, optString, posInt, readConfig } from '../io/config-fields.js';
import type { Checkpoint } from '../io/checkpoint.js';
import type { Device } from '../runtime/dtype.js';
import type { Tensor } from '../runtime/tensor.js';
import { openModelDir, place, type Weights } from './layers.js';

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

const LAYER_TYPES = ['sliding_attention', 'full_attention'] as const;

/** Upstream default layer types: even layer indices slide, odd ones attend fully. */
function defaultLayerTypes(n: number): string[] {
  return Array.from({ length: n }, (_, i) => ((i + 1) % 2 ? 'sliding_attention' : 'full_attention'));
}

/** XL carries all four encoder_* keys (then required); 2B falls back to the decoder's value. */
const decoderValue = (field: string) => (read: Record<string, unknown>, json: Record<string, unknown>) =>
  json.encoder_hidden_size == null ? (read[field] as number) : undefined;

/** The config.json keys of the ACE-Step DiT folders, with upstream's defaults. */
const ACESTEP_FIELDS = {
  hiddenSize: posInt('hidden_size'),
  intermediateSize: posInt('intermediate_size'),
  numAttentionHeads: posInt('num_attention_heads'),
  numKeyValueHeads: posInt('num_key_value_heads'),
  numHiddenLayers: posInt('num_audio_decoder_hidden_layers', (_, json) => json.num_hidden_layers as number | undefined),
  headDim: posInt('head_dim', (c) => (c.hiddenSize as number) / (c.numAttentionHeads as number)),
  ropeTheta: finite('rope_theta', 1e6),
  rmsNormEps: finite('rms_norm_eps', 1e-6),
  useSlidingWindow: flag('use_sliding_window', true),
  slidingWindow: optional(posInt('sliding_window')),
  layerTypes: enumList('layer_types', LAYER_TYPES, (c) => defaultLayerTypes(c.numHiddenLayers as number) as (typeof LAYER_TYPES)[number][]),
  inChannels: posInt('in_channels', 192),
  audioAcousticHiddenDim: posInt('audio_acoustic_hidden_dim', 64),
  patchSize: posInt('patch_size', 2),
  textHiddenDim: posInt('text_hidden_dim', 1024),
  timbreHiddenDim: posInt('timbre_hidden_dim', 64),
  numLyricEncoderHiddenLayers: posInt('num_lyric_encoder_hidden_layers', 8),
  numTimbreEncoderHiddenLayers: posInt('num_timbre_encoder_hidden_layers', 4),
  numAttentionPoolerHiddenLayers: posInt('num_attention_pooler_hidden_layers', 2),
  poolWindowSize: posInt('pool_window_size', 5),
  fsqLevels: intList('fsq_input_levels', 2, [8, 8, 8, 5, 5, 5]),
  fsqNumQuantizers: posInt('fsq_input_num_quantizers', 1),
  encoderHiddenSize: posInt('encoder_hidden_size', decoderValue('hiddenSize')),
  encoderNumAttentionHeads: posInt('encoder_num_attention_heads', decoderValue('numAttentionHeads')),
  encoderNumKeyValueHeads: posInt('encoder_num_key_value_heads', decoderValue('numKeyValueHeads')),
  encoderIntermediateSize: posInt('encoder_intermediate_size', decoderValue('intermediateSize')),
  isTurbo: flag('is_turbo', false),
  modelVersion: optString('model_version'),
  torchDtype: optString('torch_dtype'),
};

/** Parses an AceStepConfig object (as in config.json); `path` names the file in errors. */
export function parseAceStepConfig(cfg: Record<string, unknown>, path = 'config.json'): AceStepConfig {
  const { useSlidingWindow, slidingWindow, ...c } = readConfig(cfg, ACESTEP_FIELDS, path);
  if (c.numAttentionHeads % c.numKeyValueHeads !== 0) {
    throw new CheckpointError(
      `num_attention_heads ${c.numAttentionHeads} is not a multiple of num_key_value_heads ${c.numKeyValueHeads}`,
      path,
    );
  }
  if (c.encoderNumAttentionHeads % c.encoderNumKeyValueHeads !== 0) {
    throw new CheckpointError(
      `encoder_num_attention_heads ${c.encoderNumAttentionHeads} is not a multiple of encoder_num_key_value_heads ${c.encoderNumKeyValueHeads}`,
      path,
    );
  }
  return { ...c, slidingWindow: useSlidingWindow ? slidingWindow : null, isXL: cfg.encoder_hidden_size != null };
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
  return openModelDir(dir, parseAceStepConfig);
}
