// The `acestep` command line: generate, understand, create-sample and format-sample over a
// checkpoint root in the official layout. Every GenerationParams / GenerationConfig field is a flag
// (`--bpm 120`, `--task-type cover`, snake_case or kebab-case), with a few short aliases; results
// are printed as JSON on stdout, progress on stderr.
import { readFileSync } from 'node:fs';
import {
  AceStep, createSample, DEFAULT_CONFIG, DEFAULT_PARAMS, formatSample, generateMusic, ParamError, resolveConfig, resolveParams, setNumThreads, understandMusic,
  type BackendChoice, type ProgressEvent,
} from '../index.js';
import { runServerCli } from '../server/cli-serve.js';

const USAGE = `usage: acestep <command> --checkpoints <dir> [options]

commands:
  generate        --caption <text> [--lyrics <text>] [--duration <s>] [--out <dir>] [any generation parameter]
  understand      --audio-codes <codes> | --src-audio <file>
  create-sample   --query <text> [--instrumental] [--vocal-language <code>]
  format-sample   --caption <text> --lyrics <text> [--bpm <n>] [--duration <s>] [--keyscale <key>] [--timesignature <n>]
  serve           REST server (acestep serve --help)
  worker          Redis job worker (acestep worker --help)

common options:
  --checkpoints <dir>   checkpoint root (acestep-v15-turbo, acestep-5Hz-lm-*, Qwen3-Embedding-0.6B, vae)
  --backend auto|cpu|cuda   (default auto)      --threads <n>   CPU threads
  --dit-model <name>  --lm-model <name>  --lm-max-model-len <n> (LM context, default 4096)
  --params <file.json>  --config <file.json>
generation parameters (snake_case names of the library, e.g. --task-type, --src-audio, --inference-steps,
  --seed, --guidance-scale, --shift, --infer-method, --repainting-start, --audio-cover-strength, --thinking,
  --lm-temperature, --batch-size, --seeds 1,2, --use-random-seed false, --audio-format flac|wav|wav32|mp3);
  aliases: --task, --steps, --batch, --format, --out (save dir, default ./outputs)`;

const ALIASES: Record<string, string> = { task: 'task_type', steps: 'inference_steps', batch: 'batch_size', format: 'audio_format' };
const CLI_KEYS = new Set(['checkpoints', 'backend', 'threads', 'dit_model', 'lm_model', 'lm_max_model_len', 'params', 'config', 'out', 'query', 'help']);
const LIST_KEYS = new Set(['complete_track_classes', 'timesteps']);

class UsageError extends Error {}

function coerce(key: string, v: string | true): unknown {
  if (v === true) return true;
  if (LIST_KEYS.has(key)) return v.split(',').map((s) => (key === 'timesteps' ? Number(s) : s.trim()));
  if (v === 'true' || v === 'false') return v === 'true';
  if (v === 'null') return null;
  if (key !== 'seeds' && v.trim() !== '' && Number.isFinite(Number(v)) && !['keyscale', 'timesignature', 'caption', 'lyrics', 'query', 'mp3_bitrate'].includes(key)) return Number(v);
  return v;
}

/** `--key value`, `--key=value`, `--flag`, `--no-flag`; keys become snake_case. */
function parseFlags(argv: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument '${a}'`);
    let key = a.slice(2);
    let val: string | true;
    const eq = key.indexOf('=');
    if (eq >= 0) {
      val = key.slice(eq + 1);
      key = key.slice(0, eq);
    } else if (key.startsWith('no-')) {
      key = key.slice(3);
      val = 'false';
    } else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) val = argv[++i];
    else val = true;
    key = key.replace(/-/g, '_');
    key = ALIASES[key] ?? key;
    out[key] = coerce(key, val);
  }
  return out;
}

const camel = (k: string) => k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function split(flags: Record<string, unknown>): { cli: Record<string, unknown>; params: Record<string, unknown>; config: Record<string, unknown> } {
  const cli: Record<string, unknown> = {};
  const params: Record<string, unknown> = flags.params ? JSON.parse(readFileSync(String(flags.params), 'utf8')) : {};
  const config: Record<string, unknown> = flags.config ? JSON.parse(readFileSync(String(flags.config), 'utf8')) : {};
  for (const [k, v] of Object.entries(flags)) {
    if (CLI_KEYS.has(k)) cli[k] = v;
    else if (camel(k) in DEFAULT_PARAMS || k === 'repetition_penalty') params[k] = v;
    else if (camel(k) in DEFAULT_CONFIG) config[k] = v;
    else throw new UsageError(`unknown option --${k.replace(/_/g, '-')}`);
  }
  return { cli, params, config };
}

function progressPrinter(): (e: ProgressEvent) => void {
  return (e) => {
    if (e.stage === 'dit') process.stderr.write(`\rdiffusion step ${e.step}/${e.total}${e.step === e.total ? '\n' : ''}`);
    else if (e.stage === 'vae') process.stderr.write(`\rdecode tile ${e.tile}/${e.total}${e.tile === e.total ? '\n' : ''}`);
    else if (e.stage === 'lm' && e.step % 50 === 0) process.stderr.write(`\rLM phase ${e.phase} item ${e.item}: ${e.step} tokens`);
    else if (e.stage === 'encode') process.stderr.write(`encoding ${e.what} audio\n`);
  };
}

/** Runs one command; resolves to the exit code (0 success, 1 the run failed, 2 bad usage or parameters). */
export async function runCli(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (e) {
    const usage = e instanceof UsageError || e instanceof ParamError;
    process.stderr.write(`acestep: ${(e as Error).message}\n`);
    if (e instanceof UsageError) process.stderr.write(`${USAGE}\n`);
    return usage ? 2 : 1;
  }
}

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'serve' || command === 'worker') return runServerCli(argv);
  if (!command || command === '--help' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return command ? 0 : 2;
  }
  const { cli, params, config } = split(parseFlags(rest));
  if (cli.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!['generate', 'understand', 'create-sample', 'format-sample'].includes(command)) throw new UsageError(`unknown command '${command}'`);
  if (typeof cli.checkpoints !== 'string') throw new UsageError('--checkpoints <dir> is required');
  if (cli.threads !== undefined) setNumThreads(Number(cli.threads));
  // Reject bad parameters before spending time on loading models.
  if (command === 'generate') {
    resolveParams(params);
    resolveConfig(config);
  }
  const engine = await AceStep.load({
    checkpoints: cli.checkpoints,
    device: (cli.backend as BackendChoice | undefined) ?? 'auto',
    ditModel: cli.dit_model as string | undefined,
    lmModel: cli.lm_model as string | undefined,
    lmMaxModelLen: cli.lm_max_model_len as number | undefined,
  });
  try {
    let result: { success: boolean };
    const lmOpts = { seed: params.seed as number | undefined, temperature: params.lm_temperature as number | undefined };
    switch (command) {
      case 'generate': {
        const r = await generateMusic(engine, params, config, { saveDir: typeof cli.out === 'string' ? cli.out : 'outputs', onProgress: progressPrinter() });
        // The audio itself is in the files; print everything else.
        result = { ...r, audios: r.audios.map(({ channels: _c, ...a }) => a) } as typeof r;
        break;
      }
      case 'understand':
        result = await understandMusic(engine, { audioCodes: params.audio_codes as string | undefined, srcAudio: params.src_audio as string | undefined }, lmOpts);
        break;
      case 'create-sample':
        result = await createSample(engine, { query: String(cli.query ?? ''), instrumental: params.instrumental === true, vocalLanguage: (params.vocal_language as string | undefined) ?? null }, lmOpts);
        break;
      default:
        result = await formatSample(
          engine,
          {
            caption: String(params.caption ?? ''),
            lyrics: String(params.lyrics ?? ''),
            userMetadata: { bpm: params.bpm as number | undefined, duration: params.duration as number | undefined, keyscale: params.keyscale as string | undefined, timesignature: params.timesignature as string | undefined },
          },
          lmOpts,
        );
    }
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return result.success ? 0 : 1;
  } finally {
    engine.dispose();
  }
}
