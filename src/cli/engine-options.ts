// The options every model-running command shares (checkpoints, device, model folders, LoRA, output
// mode) and the engine load that reports each model as it is read. The engine (and with it the
// native addon) is imported on first use, so --help and `download` run without the addon.
import { Option, type Command } from 'commander';
import type { AceStep, BackendChoice, DitQuantization, LmQuantizationChoice } from '../index.js';
import { UsageError } from './command.js';
import type { CliProgress } from './progress.js';

export interface EngineFlags {
  checkpoints?: string;
  backend?: string;
  threads?: string;
  ditModel?: string;
  lmModel?: string;
  lmMaxModelLen?: string;
  quantization?: string;
  lmQuantization?: string;
  lora?: string;
  loraScale?: string;
  json?: boolean;
  quiet?: boolean;
}

export function addEngineOptions(cmd: Command): Command {
  return cmd
    .option('--checkpoints <dir>', 'checkpoint root in the official layout (default: the Hugging Face cache, filled by `acestep download`)')
    .addOption(new Option('--backend <name>', 'compute backend (default auto)').choices(['auto', 'cpu', 'cuda']))
    .option('--threads <n>', 'CPU threads')
    .option('--dit-model <name>', 'DiT folder (default: the first of acestep-v15-turbo, -xl-turbo, -sft, -base, ... present)')
    .option('--lm-model <name>', 'LM folder (default: acestep-5Hz-lm-1.7B, else 0.6B, else 4B)')
    .option('--lm-max-model-len <n>', 'LM context length (default 4096)')
    .addOption(
      new Option(
        '--quantization <mode>',
        "DiT weight quantization, upstream's values (w8a8_dynamic: int8 weights and activations)",
      ).choices(['none', 'auto', 'w8a8_dynamic']),
    )
    .addOption(
      new Option(
        '--lm-quantization <mode>',
        'LM weights: none, or int8 rows with per-row scales (~half the bytes per step; default none)',
      ).choices(['none', 'int8', 'int8_weight_only']),
    )
    .option('--lora <path>', 'LoRA / LoKr adapter for the DiT (PEFT folder or LoKr .safetensors)')
    .option('--lora-scale <s>', 'adapter scale (default 1)')
    .option('--json', 'print the result as JSON (audio codes written once)')
    .option('-q, --quiet', 'no progress on stderr');
}

function intFlag(v: string | undefined, flag: string, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} must be an integer >= ${min}, got '${v}'`);
  return n;
}

/** Loads the engine (and the adapter) with a line per model on the progress stream. */
export async function openEngine(f: EngineFlags, progress: CliProgress): Promise<AceStep> {
  const threads = intFlag(f.threads, '--threads', 1);
  const lmMaxModelLen = intFlag(f.lmMaxModelLen, '--lm-max-model-len', 1);
  const loraScale = f.loraScale === undefined ? 1 : Number(f.loraScale);
  if (f.loraScale !== undefined && (f.loraScale.trim() === '' || !Number.isFinite(loraScale)))
    throw new UsageError(`--lora-scale must be a number, got '${f.loraScale}'`);
  if (f.loraScale !== undefined && !f.lora) throw new UsageError('--lora-scale needs --lora <path>');
  const { AceStep, setNumThreads } = await import('../index.js');
  if (threads !== undefined) setNumThreads(threads);
  const engine = await AceStep.load({
    checkpoints: f.checkpoints ?? null,
    device: (f.backend ?? 'auto') as BackendChoice,
    ditModel: f.ditModel,
    lmModel: f.lmModel,
    lmMaxModelLen,
    quantization: f.quantization as DitQuantization | undefined,
    lmQuantization: f.lmQuantization as LmQuantizationChoice | undefined,
    onLoad: (e) => progress.load(e),
  }).catch((e: unknown) => {
    progress.endStage();
    throw e;
  });
  if (f.lora) {
    try {
      const info = engine.adapters.loadLora(f.lora, { scale: loraScale });
      progress.line(`loaded ${info.kind} adapter '${info.name}' (scale ${loraScale})`);
    } catch (e) {
      engine.dispose();
      throw e;
    }
  }
  return engine;
}
