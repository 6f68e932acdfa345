// The sampling flags of the LM helpers (understand, create-sample, format-sample), taken from the
// same parameter table as generate's --lm-* flags, mapped onto LmCallOptions; progress per token.
import type { Command } from 'commander';
import type { LmCallOptions } from '../index.js';
import { resolveParams } from '../pipeline/params.js';
import { addParamOptions, pickParams, PARAMS_TABLE } from './param-flags.js';
import type { CliProgress } from './progress.js';

const SAMPLING = ['lmTemperature', 'lmTopK', 'lmTopP', 'lmRepetitionPenalty', 'useConstrainedDecoding', 'seed'] as const;

export function addLmSamplingOptions(cmd: Command): void {
  addParamOptions(cmd, PARAMS_TABLE, SAMPLING);
}

/** LmCallOptions from the parsed flags (seed -1 = the helper's own choice); tokens reported to `progress`. */
export function lmCallOptions(flags: Record<string, unknown>, progress: CliProgress, label: string): LmCallOptions {
  // The table's ranges, checked before any model is read.
  resolveParams(
    Object.fromEntries(Object.entries(pickParams(flags, PARAMS_TABLE)).filter(([k]) => (SAMPLING as readonly string[]).includes(k))),
  );
  const o: LmCallOptions = {
    temperature: flags.lmTemperature as number | undefined,
    topK: flags.lmTopK as number | undefined,
    topP: flags.lmTopP as number | undefined,
    repetitionPenalty: flags.lmRepetitionPenalty as number | undefined,
    useConstrainedDecoding: flags.useConstrainedDecoding as boolean | undefined,
    seed: flags.seed === -1 ? undefined : (flags.seed as number | undefined),
    onToken: (_tokens, step) => progress.lmTokens(label, 'lm', step + 1, null),
  };
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as LmCallOptions;
}
