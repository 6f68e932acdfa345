// The per-audio parameter record of a result (spec 17.2): the resolved GenerationParams in
// upstream's snake_case plus the item's seed, its audio codes and the output format settings. Its
// Python-style JSON gives the output file key (spec 17.3, 24 Q2); FLOAT_PARAM_KEYS names the
// fields that are Python floats, so 30 is written 30.0 as upstream would.
import type { GenerationConfig, GenerationParams } from './params.js';

export const FLOAT_PARAM_KEYS: ReadonlySet<string> = new Set([
  'duration', 'guidance_scale', 'cfg_interval_start', 'cfg_interval_end', 'shift', 'repainting_start', 'repainting_end',
  'repaint_strength', 'audio_cover_strength', 'cover_noise_strength', 'retake_variance', 'lm_temperature', 'lm_cfg_scale',
  'lm_top_p', 'lm_repetition_penalty', 'dcw_scaler', 'dcw_high_scaler', 'latent_shift', 'latent_rescale', 'normalization_db',
  'fade_in_duration', 'fade_out_duration', 'timesteps', 'lora_scale', 'cot_duration',
]);

export function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export function paramsRecord(
  p: GenerationParams,
  c: GenerationConfig,
  item: { seed: number; audioCodes: string },
  lora: { loraLoaded: boolean; useLora: boolean; loraScale: number } = { loraLoaded: false, useLora: false, loraScale: 1 },
): Record<string, unknown> {
  const rec: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) rec[snakeCase(k)] = Array.isArray(v) ? [...v] : v;
  rec.seed = item.seed;
  rec.audio_codes = item.audioCodes;
  rec.audio_format = c.audioFormat;
  rec.mp3_bitrate = c.mp3Bitrate;
  rec.mp3_sample_rate = c.mp3SampleRate;
  rec.lora_loaded = lora.loraLoaded;
  rec.use_lora = lora.useLora;
  rec.lora_scale = lora.loraScale;
  return rec;
}
