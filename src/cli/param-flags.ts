// Every generation parameter as a command-line flag, built from the pipeline's parameter table
// (PARAM_SPECS / CONFIG_SPECS with DEFAULT_PARAMS / DEFAULT_CONFIG), so a flag's range and default in
// --help are the ones resolveParams enforces. Flags are kebab-case (`--inference-steps`); upstream's
// snake_case spelling (`--inference_steps`) is accepted too. Values are coerced by the parameter's
// kind and validated by resolveParams / resolveConfig, which name the parameter on error.
import { Option, type Command } from 'commander';
import { CONFIG_SPECS, DEFAULT_CONFIG, DEFAULT_PARAMS, PARAM_SPECS, type ParamSpec } from '../pipeline/params.js';

/** One-line effects; the range, accepted forms and default come from the table. */
const EFFECT: Record<string, string> = {
  taskType: 'what to do with the inputs',
  instruction: 'DiT instruction (empty = the task default)',
  referenceAudio: 'timbre reference audio file',
  srcAudio: 'source audio of cover / repaint / lego / extract / complete',
  audioCodes: 'given LM audio codes (skip the LM codes phase)',
  caption: 'text description of the music',
  lyrics: 'lyrics with [Verse] / [Chorus] tags',
  instrumental: 'no vocals',
  vocalLanguage: 'language of the vocals',
  bpm: 'tempo (unset = chosen by the LM)',
  keyscale: 'key (empty = chosen by the LM)',
  timesignature: 'time signature (empty = chosen by the LM)',
  duration: 'length in seconds',
  inferenceSteps: 'diffusion steps',
  seed: 'noise seed',
  guidanceScale: 'classifier-free guidance (base / sft models)',
  useAdg: 'adaptive dual guidance',
  cfgIntervalStart: 'guidance from this fraction of the schedule',
  cfgIntervalEnd: 'guidance up to this fraction of the schedule',
  shift: 'timestep shift',
  inferMethod: 'sampler: deterministic ode or stochastic sde',
  samplerMode: 'integrator',
  timesteps: 'custom timestep schedule, comma-separated',
  repaintingStart: 'repaint from (s)',
  repaintingEnd: 'repaint to (s)',
  repaintMode: 'how strictly the unpainted part is kept',
  repaintStrength: 'repaint strength',
  chunkMaskMode: 'repaint mask mode',
  audioCoverStrength: 'how much the source shapes a cover',
  coverNoiseStrength: 'noise added to the cover source',
  retakeVariance: 'variation against the retake seed',
  retakeSeed: 'seed of the variation noise',
  thinking: 'let the LM plan metadata and audio codes',
  lmTemperature: 'LM sampling temperature',
  lmCfgScale: 'LM classifier-free guidance',
  lmTopK: 'LM top-k',
  lmTopP: 'LM top-p',
  lmNegativePrompt: 'LM negative prompt',
  lmRepetitionPenalty: 'LM repetition penalty',
  useCotMetas: 'LM writes bpm / key / time signature / duration',
  useCotCaption: 'LM rewrites the caption',
  useCotLanguage: 'LM picks the vocal language',
  useCotLyrics: 'reserved by upstream (no effect)',
  useConstrainedDecoding: 'LM metadata through the constrained decoder',
  dcwEnabled: 'detail-correcting wavelet guidance',
  dcwMode: 'DCW band',
  dcwScaler: 'DCW low-band strength',
  dcwHighScaler: 'DCW high-band strength',
  latentShift: 'shift applied to the latents before decoding',
  latentRescale: 'scale applied to the latents before decoding',
  enableNormalization: 'peak-normalise the output',
  normalizationDb: 'normalisation peak (dBFS)',
  fadeInDuration: 'fade-in (s)',
  fadeOutDuration: 'fade-out (s)',
  trackName: 'track of lego / extract',
  completeTrackClasses: 'tracks of complete, comma-separated',
  batchSize: 'songs per run',
  allowLmBatch: 'plan the batch with the LM in one pass',
  useRandomSeed: 'random seed per song (false: --seed / --seeds)',
  seeds: 'per-song seeds',
  lmBatchChunkSize: 'LM batch chunk',
  audioFormat: 'output file format',
  mp3Bitrate: 'mp3 bitrate',
  mp3SampleRate: 'mp3 sample rate',
  constrainedDecodingDebug: 'log each decision of the constrained decoder',
};

/**
 * Parameters without a flag of their own: the command line loads one adapter with `--lora PATH
 * --lora-scale S` (engine-options.ts), which the run then uses, so a per-call choice adds nothing;
 * the cot_* fields are what the LM filled in, accepted from a params file and ignored.
 */
export const NOT_FLAGS: ReadonlySet<string> = new Set([
  'loraId',
  'loraScale',
  'cotBpm',
  'cotKeyscale',
  'cotTimesignature',
  'cotDuration',
  'cotVocalLanguage',
  'cotCaption',
  'cotLyrics',
]);

/** Short spellings kept from earlier versions of the command line. */
export const FLAG_ALIASES: Readonly<Record<string, string>> = {
  task: 'taskType',
  steps: 'inferenceSteps',
  batch: 'batchSize',
  format: 'audioFormat',
};

export const kebab = (camel: string): string => camel.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function range(s: ParamSpec): string {
  if (s.kind === 'boolean') return 'true|false';
  if (s.kind === 'choice' && s.choices) {
    const shown = s.choices.filter((c) => c !== '');
    return shown.length <= 10 ? shown.join('|') : (s.forms ?? `one of ${shown.length} values`);
  }
  if (s.min !== undefined || s.max !== undefined) {
    const lo = s.min === undefined ? '' : `${s.minOpen ? '(' : '['}${s.min}`;
    return `${s.kind === 'integer' ? 'integer ' : ''}${lo || '(-inf'}, ${s.max ?? 'inf'}]${s.forms ? `; ${s.forms}` : ''}`;
  }
  return s.forms ?? (s.kind === 'string' ? '' : s.kind);
}

function placeholder(s: ParamSpec): string {
  if (s.kind === 'boolean') return '[bool]';
  if (s.kind === 'list') return '<list>';
  if (s.kind === 'number' || s.kind === 'integer') return '<n>';
  if (s.kind === 'choice') return '<value>';
  return '<text>';
}

const show = (v: unknown): string =>
  v === null
    ? 'none'
    : typeof v === 'string'
      ? JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)
      : Array.isArray(v)
        ? `[${v.join(',')}]`
        : String(v);

/** `--help` text of one parameter: its effect, range or forms, and default. */
export function describeParam(name: string, spec: ParamSpec, dflt: unknown): string {
  const r = range(spec);
  return `${EFFECT[name] ?? name}${r ? `: ${r}` : ''} (default ${show(dflt)})`;
}

/** A flag's text turned into the parameter's value; what does not parse stays as given for the validator to name. */
export function coerceParam(spec: ParamSpec, v: string | boolean, name: string): unknown {
  if (typeof v === 'boolean') return v;
  if (spec.nullable && (v === 'null' || (v === '' && spec.kind !== 'string'))) return null;
  switch (spec.kind) {
    case 'boolean':
      return /^(true|1|yes)$/i.test(v) ? true : /^(false|0|no)$/i.test(v) ? false : v;
    case 'number':
    case 'integer':
      return v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
    case 'choice':
      return spec.choices?.every((c) => typeof c === 'number') && Number.isFinite(Number(v)) ? Number(v) : v;
    case 'list':
      if (name === 'seeds') return v; // upstream's comma-separated string form
      return v
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '')
        .map((x) => (spec.min !== undefined && Number.isFinite(Number(x)) ? Number(x) : x));
    default:
      return v;
  }
}

interface Table {
  specs: Readonly<Record<string, ParamSpec>>;
  defaults: Readonly<Record<string, unknown>>;
}

export const PARAMS_TABLE: Table = { specs: PARAM_SPECS, defaults: DEFAULT_PARAMS };
export const CONFIG_TABLE: Table = { specs: CONFIG_SPECS, defaults: DEFAULT_CONFIG };

/** Adds `--<kebab-name>` options for the named parameters of a table (all when `only` is absent). */
export function addParamOptions(cmd: Command, table: Table, only?: readonly string[]): void {
  for (const name of only ?? Object.keys(table.specs).filter((n) => !NOT_FLAGS.has(n))) {
    const spec = table.specs[name];
    const flag = `--${kebab(name)}`;
    const opt = new Option(`${flag} ${placeholder(spec)}`, describeParam(name, spec, table.defaults[name]));
    opt.argParser((v: string) => coerceParam(spec, v, name));
    cmd.addOption(opt);
    if (spec.kind === 'boolean') cmd.addOption(new Option(`--no-${kebab(name)}`, `same as ${flag} false`).hideHelp());
  }
  for (const [alias, name] of Object.entries(FLAG_ALIASES)) {
    if (!(name in table.specs) || (only && !only.includes(name))) continue;
    const spec = table.specs[name];
    cmd.addOption(
      new Option(`--${alias} ${placeholder(spec)}`, `same as --${kebab(name)}`)
        .argParser((v: string) => coerceParam(spec, v, name))
        .hideHelp(),
    );
  }
}

/** The given values of a table's parameters from commander's parsed options (camelCase keys), aliases folded in. */
export function pickParams(opts: Record<string, unknown>, table: Table): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [alias, name] of Object.entries(FLAG_ALIASES)) if (opts[alias] !== undefined && name in table.specs) out[name] = opts[alias];
  for (const name of Object.keys(table.specs)) if (opts[name] !== undefined && !NOT_FLAGS.has(name)) out[name] = opts[name];
  return out;
}

/** `--foo_bar` -> `--foo-bar` (upstream's snake_case names accepted as flags); values are left alone. */
export function normalizeFlagNames(argv: readonly string[]): string[] {
  return argv.map((a) => {
    if (!a.startsWith('--')) return a;
    const eq = a.indexOf('=');
    const name = eq < 0 ? a : a.slice(0, eq);
    return name.replace(/_/g, '-') + (eq < 0 ? '' : a.slice(eq));
  });
}
