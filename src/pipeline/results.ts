// The per-audio parameter record of a result (UPSTREAM.md: Post-processing and saving): the
// resolved GenerationParams in upstream's snake_case plus the item's seed, its audio codes and the
// output format settings. Its Python-style JSON gives the output file key (UPSTREAM.md:
// Post-processing and saving); FLOAT_PARAM_KEYS names the fields that are Python floats, so 30 is
// written 30.0 as upstream would. The lora_* fields name
// the adapter that ran, so outputs of different adapters or scales get different keys.
import type { AdapterSnapshot } from '../models/lora.js';
import type { GenerationConfig, GenerationParams } from './params.js';

export const FLOAT_PARAM_KEYS: ReadonlySet<string> = new Set([
  'duration',
  'guidance_scale',
  'cfg_interval_start',
  'cfg_interval_end',
  'shift',
  'repainting_start',
  'repainting_end',
  'repaint_strength',
  'audio_cover_strength',
  'cover_noise_strength',
  'retake_variance',
  'lm_temperature',
  'lm_cfg_scale',
  'lm_top_p',
  'lm_repetition_penalty',
  'dcw_scaler',
  'dcw_high_scaler',
  'latent_shift',
  'latent_rescale',
  'normalization_db',
  'fade_in_duration',
  'fade_out_duration',
  'timesteps',
  'lora_scale',
  'cot_duration',
]);

export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export function paramsRecord(
  p: GenerationParams,
  c: GenerationConfig,
  item: { seed: number; audioCodes: string },
  lora: Pick<AdapterSnapshot, 'name' | 'scale' | 'weightsHash' | 'loaded'> = { name: null, scale: 1, weightsHash: '', loaded: false },
): Record<string, unknown> {
  const rec: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) rec[snakeCase(k)] = Array.isArray(v) ? [...v] : v;
  rec.seed = item.seed;
  rec.audio_codes = item.audioCodes;
  rec.audio_format = c.audioFormat;
  rec.mp3_bitrate = c.mp3Bitrate;
  rec.mp3_sample_rate = c.mp3SampleRate;
  // What ran, in place of what was asked: lora_id null + an active adapter records the adapter's name.
  rec.lora_id = lora.name;
  rec.lora_scale = lora.scale;
  rec.lora_loaded = lora.loaded;
  rec.use_lora = lora.name !== null;
  rec.lora_weights_hash = lora.weightsHash;
  return rec;
}
