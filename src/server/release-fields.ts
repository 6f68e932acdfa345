// Upstream's /release_task fields (contract §4) mapped onto the library's GenerationParams /
// GenerationConfig names: the lookup order (top level -> param_obj -> the first non-empty metas
// object), every alias, upstream's value forms ("yes"/"on" booleans, comma-separated seeds and
// timesteps) and upstream's API defaults where they differ from the library's. This is the one
// table to extend when the pipeline gains parameters. Values that do not parse answer 400 naming
// the REST field (stricter than upstream, which falls back to the default).
import { HttpError } from './envelope.js';

type Kind = 'string' | 'bool' | 'int' | 'number' | 'nullableNumber' | 'seed' | 'floatList' | 'stringList' | 'raw';

interface FieldSpec {
  /** REST name first, then its aliases. */
  names: string[];
  kind: Kind;
  /** Where the value goes: a GenerationParams / GenerationConfig key (snake_case) or a job option. */
  to: { params?: string; config?: string; job?: string };
  /** Upstream API default, applied when the field is absent. */
  dflt?: unknown;
}

const F = (names: string[], kind: Kind, to: FieldSpec['to'], dflt?: unknown): FieldSpec => ({ names, kind, to, dflt });

export const RELEASE_FIELDS: FieldSpec[] = [
  F(['prompt', 'caption'], 'string', { params: 'caption' }, ''),
  F(['lyrics'], 'string', { params: 'lyrics' }, ''),
  F(['thinking'], 'bool', { params: 'thinking' }, false),
  F(['sample_mode', 'sampleMode'], 'bool', { job: 'sampleMode' }, false),
  F(['sample_query', 'sampleQuery', 'description', 'desc'], 'string', { job: 'sampleQuery' }, ''),
  F(['use_format', 'useFormat', 'format'], 'bool', { job: 'useFormat' }, false),
  F(['model', 'model_name', 'modelName', 'dit_model', 'ditModel'], 'string', { job: 'model' }),
  F(['bpm'], 'nullableNumber', { params: 'bpm' }),
  F(['key_scale', 'keyscale', 'keyScale', 'key'], 'string', { params: 'keyscale' }, ''),
  F(['time_signature', 'timesignature', 'timeSignature'], 'string', { params: 'timesignature' }, ''),
  F(['audio_duration', 'duration', 'audioDuration', 'target_duration', 'targetDuration'], 'nullableNumber', { params: 'duration' }),
  F(['vocal_language', 'vocalLanguage', 'language'], 'string', { params: 'vocal_language' }, 'en'),
  F(['inference_steps', 'inferenceSteps'], 'int', { params: 'inference_steps' }, 8),
  F(['guidance_scale', 'guidanceScale'], 'number', { params: 'guidance_scale' }, 7.0),
  F(['use_random_seed', 'useRandomSeed'], 'bool', { config: 'use_random_seed' }, true),
  F(['seed'], 'seed', { config: 'seeds' }),
  F(['batch_size', 'batchSize'], 'int', { config: 'batch_size' }, 2),
  F(['task_type', 'taskType'], 'string', { params: 'task_type' }, 'text2music'),
  F(['instruction'], 'string', { params: 'instruction' }),
  F(['track_name', 'trackName'], 'string', { params: 'track_name' }),
  F(['track_classes', 'trackClasses', 'instruments'], 'stringList', { params: 'complete_track_classes' }),
  F(['reference_audio_path', 'ref_audio_path', 'referenceAudioPath', 'refAudioPath'], 'string', { job: 'referenceAudioPath' }),
  F(['src_audio_path', 'ctx_audio_path', 'sourceAudioPath', 'srcAudioPath', 'ctxAudioPath'], 'string', { job: 'srcAudioPath' }),
  F(['audio_code_string', 'audioCodeString', 'audio_codes'], 'string', { params: 'audio_codes' }),
  F(['repainting_start'], 'number', { params: 'repainting_start' }),
  F(['repainting_end'], 'nullableNumber', { params: 'repainting_end' }),
  F(['audio_cover_strength', 'audioCoverStrength', 'cover_strength', 'coverStrength'], 'number', { params: 'audio_cover_strength' }),
  F(['cover_noise_strength', 'coverNoiseStrength'], 'number', { params: 'cover_noise_strength' }),
  F(['repaint_mode'], 'string', { params: 'repaint_mode' }),
  F(['repaint_strength'], 'number', { params: 'repaint_strength' }),
  F(['chunk_mask_mode'], 'string', { params: 'chunk_mask_mode' }),
  F(['shift'], 'number', { params: 'shift' }, 3.0),
  F(['infer_method', 'inferMethod'], 'string', { params: 'infer_method' }),
  F(['timesteps'], 'floatList', { params: 'timesteps' }),
  F(['use_adg'], 'bool', { params: 'use_adg' }),
  F(['cfg_interval_start'], 'number', { params: 'cfg_interval_start' }),
  F(['cfg_interval_end'], 'number', { params: 'cfg_interval_end' }),
  F(['audio_format'], 'string', { config: 'audio_format' }, 'mp3'),
  F(['lm_temperature'], 'number', { params: 'lm_temperature' }, 0.85),
  F(['lm_cfg_scale'], 'number', { params: 'lm_cfg_scale' }, 2.5),
  F(['lm_top_k'], 'nullableNumber', { params: 'lm_top_k' }),
  F(['lm_top_p'], 'number', { params: 'lm_top_p' }, 0.9),
  F(['lm_repetition_penalty'], 'number', { params: 'lm_repetition_penalty' }, 1.0),
  F(['lm_negative_prompt'], 'string', { params: 'lm_negative_prompt' }),
  F(['use_cot_caption', 'cot_caption', 'cot-caption'], 'bool', { params: 'use_cot_caption' }, true),
  F(['use_cot_language', 'cot_language', 'cot-language'], 'bool', { params: 'use_cot_language' }, true),
  F(['constrained_decoding', 'constrainedDecoding', 'constrained'], 'bool', { params: 'use_constrained_decoding' }, true),
  F(['allow_lm_batch', 'allowLmBatch', 'parallel_thinking'], 'bool', { config: 'allow_lm_batch' }, true),
  // Analysis instead of generation: codes of the source, or the LM's reading of it.
  F(['extract_codes_only'], 'bool', { job: 'extractCodesOnly' }, false),
  F(['analysis_only'], 'bool', { job: 'analysisOnly' }, false),
  F(['full_analysis_only'], 'bool', { job: 'fullAnalysisOnly' }, false),
  // Backend and debug knobs of upstream's server: accepted, without effect here.
  ...['lm_model_path', 'lm_backend', 'use_tiled_decode', 'constrained_decoding_debug', 'is_format_caption'].map((n) => F([n], 'raw', {})),
];

/** Upstream's lyric markers of an instrumental track. */
const INSTRUMENTAL_LYRICS = new Set(['', '[inst]', '[instrumental]']);

export interface ReleaseJob {
  /** GenerationParams in snake_case, ready for generateMusic. */
  params: Record<string, unknown>;
  /** GenerationConfig in snake_case. */
  config: Record<string, unknown>;
  sampleMode: boolean;
  sampleQuery: string;
  useFormat: boolean;
  model: string | null;
  referenceAudioPath: string | null;
  srcAudioPath: string | null;
  /** What the job does: generate audio, or only read the source (codes, or codes + the LM's understanding). */
  mode: 'generate' | 'codes' | 'understand';
  /** The caption and lyrics as sent (result metas.prompt / metas.lyrics). */
  original: { prompt: string; lyrics: string };
}

function asObject(v: unknown): Record<string, unknown> | null {
  if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  if (typeof v === 'string' && v.trim().startsWith('{')) {
    try {
      const o = JSON.parse(v) as unknown;
      return o && typeof o === 'object' && !Array.isArray(o) ? (o as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  }
  return null;
}

/** The layers searched for a field, in upstream's order. */
export function lookupLayers(body: Record<string, unknown>): Record<string, unknown>[] {
  const layers = [body];
  const po = asObject(body.param_obj);
  if (po) layers.push(po);
  for (const k of ['metas', 'meta', 'metadata', 'user_metadata', 'userMetadata']) {
    const m = asObject(body[k]) ?? (po ? asObject(po[k]) : null);
    if (m && Object.keys(m).length > 0) {
      layers.push(m);
      break;
    }
  }
  return layers;
}

/** The first value of any of `names` across the layers (null/undefined/"" count as absent). */
export function lookup(layers: Record<string, unknown>[], names: string[]): unknown {
  for (const layer of layers) {
    for (const n of names) {
      const v = layer[n];
      if (v !== undefined && v !== null && v !== '') return v;
    }
  }
  return undefined;
}

export function parseBool(field: string, v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (['1', 'true', 'yes', 'y', 'on'].includes(s)) return true;
    if (['0', 'false', 'no', 'n', 'off', ''].includes(s)) return false;
  }
  throw new HttpError(400, `${field}: must be a boolean (true/false, 1/0, yes/no, on/off), got ${short(v)}`);
}

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function parseNumber(field: string, v: unknown, integer: boolean): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)))
    throw new HttpError(400, `${field}: must be ${integer ? 'an integer' : 'a number'}, got ${short(v)}`);
  return n;
}

function convert(spec: FieldSpec, v: unknown): unknown {
  const field = spec.names[0];
  switch (spec.kind) {
    case 'raw':
      return v;
    case 'string':
      if (typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'boolean') return String(v);
      throw new HttpError(400, `${field}: must be a string, got ${short(v)}`);
    case 'bool':
      return parseBool(field, v);
    case 'int':
      return parseNumber(field, v, true);
    case 'number':
      return parseNumber(field, v, false);
    case 'nullableNumber':
      return v === null ? null : parseNumber(field, v, false);
    case 'seed': {
      if (typeof v === 'number') return parseNumber(field, v, true);
      if (typeof v !== 'string' || !/^\s*-?\d+(\s*,\s*-?\d+)*\s*$/.test(v))
        throw new HttpError(400, `${field}: must be an integer or comma-separated integers, got ${short(v)}`);
      return v;
    }
    case 'floatList': {
      const list = Array.isArray(v)
        ? v
        : typeof v === 'string'
          ? v
              .split(',')
              .map((s) => s.trim())
              .filter((s) => s !== '')
          : null;
      if (!list) throw new HttpError(400, `${field}: must be a list or comma-separated numbers, got ${short(v)}`);
      return list.map((x) => parseNumber(field, x, false));
    }
    case 'stringList': {
      const list = Array.isArray(v)
        ? v
        : typeof v === 'string'
          ? v
              .split(',')
              .map((s) => s.trim())
              .filter((s) => s !== '')
          : null;
      if (!list || !list.every((x) => typeof x === 'string'))
        throw new HttpError(400, `${field}: must be a list or comma-separated names, got ${short(v)}`);
      return list;
    }
  }
}

/** The REST field name for a library parameter (to name it in a 400 from the pipeline's validation). */
export function restFieldOf(param: string): string {
  const snake = param.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  const spec = RELEASE_FIELDS.find((f) => f.to.params === snake || f.to.config === snake);
  if (spec) return spec.names[0];
  if (snake === 'src_audio') return 'src_audio_path';
  if (snake === 'reference_audio') return 'reference_audio_path';
  return snake;
}

/** Reads a /release_task body (already decoded to an object) into a job description. */
export function readReleaseFields(body: Record<string, unknown>): ReleaseJob {
  const layers = lookupLayers(body);
  const params: Record<string, unknown> = {};
  const config: Record<string, unknown> = {};
  const job: Record<string, unknown> = {};
  for (const spec of RELEASE_FIELDS) {
    const given = lookup(layers, spec.names);
    const v = given === undefined ? spec.dflt : convert(spec, given);
    if (v === undefined) continue;
    if (spec.to.params) params[spec.to.params] = v;
    if (spec.to.config) config[spec.to.config] = v;
    if (spec.to.job) job[spec.to.job] = v;
  }
  // Value forms that differ between upstream's API and the library.
  if (params.duration === null || params.duration === undefined) params.duration = -1;
  if (params.repainting_end === null) params.repainting_end = -1;
  if (params.lm_top_k === null) delete params.lm_top_k;
  if (params.bpm !== undefined && params.bpm !== null) {
    // Clients send 0 for "let the model choose"; a fractional tempo rounds to the nearest beat.
    const bpm = params.bpm as number;
    params.bpm = bpm <= 0 ? null : Math.round(bpm);
  }
  if (typeof config.seeds === 'number') {
    params.seed = config.seeds;
    if (lookup(layers, ['use_random_seed', 'useRandomSeed']) === undefined && (config.seeds as number) >= 0) config.use_random_seed = false;
  } else if (typeof config.seeds === 'string' && lookup(layers, ['use_random_seed', 'useRandomSeed']) === undefined) {
    config.use_random_seed = false;
  }
  const lyrics = String(params.lyrics ?? '');
  params.instrumental = INSTRUMENTAL_LYRICS.has(lyrics.trim().toLowerCase());
  if (params.instrumental && lyrics.trim() !== '') params.lyrics = '[Instrumental]';
  if (typeof params.track_name === 'string') params.track_name = params.track_name.toLowerCase();
  return {
    params,
    config,
    sampleMode: job.sampleMode === true,
    sampleQuery: String(job.sampleQuery ?? ''),
    useFormat: job.useFormat === true,
    model: typeof job.model === 'string' ? job.model : null,
    referenceAudioPath: typeof job.referenceAudioPath === 'string' ? job.referenceAudioPath : null,
    srcAudioPath: typeof job.srcAudioPath === 'string' ? job.srcAudioPath : null,
    mode: job.extractCodesOnly === true ? 'codes' : job.analysisOnly === true || job.fullAnalysisOnly === true ? 'understand' : 'generate',
    original: { prompt: String(params.caption ?? ''), lyrics },
  };
}
