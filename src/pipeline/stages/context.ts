// What every stage of generateMusic shares: the engine, the resolved parameters, the seeds, the
// caller's options (progress, abort), the time costs being booked, and the stage errors.
import { AcestepError } from '../../runtime/errors.js';
import { throwIfAborted } from '../errors.js';
import type { AdapterSnapshot } from '../../models/lora.js';
import type { AceStep } from '../engine.js';
import type { GenerationConfig, GenerationParams } from '../params.js';
import type { SilenceLatent } from '../task-assembly.js';

export type ProgressEvent =
  | { stage: 'encode'; what: 'source' | 'reference' }
  | { stage: 'lm'; item: number; phase: 1 | 2; step: number }
  | { stage: 'dit'; step: number; total: number }
  | { stage: 'vae'; tile: number; total: number }
  | { stage: 'save'; item: number; total: number };

export interface RunOptions {
  /** Folder for the audio files (created if missing); null/absent = keep the audio in memory only. */
  saveDir?: string | null;
  onProgress?: (e: ProgressEvent) => void;
  /** Checked between stages, LM tokens, DiT steps and VAE tiles. */
  signal?: AbortSignal;
  /** Receives the constrained decoder's decisions when config.constrainedDecodingDebug is on (default: console.debug). */
  onDebug?: (message: string) => void;
}

/** One generation's fixed inputs, handed to every stage. */
export interface RunContext {
  engine: AceStep;
  /** The parameters; after the LM plan, with the cot_* fields it filled in. */
  p: GenerationParams;
  c: GenerationConfig;
  seeds: number[];
  opts: RunOptions;
  /** Seconds per stage, filled in as the stages run. */
  timeCosts: Record<string, number>;
  /** The engine's silence latent on the host. */
  silence: SilenceLatent;
  /** The DiT adapter and scale of this run, fixed at its start. */
  adapters: AdapterSnapshot;
  /** Warnings for the result's status message (e.g. a file that could not be saved). */
  warnings: string[];
}

/** The DiT output cannot be decoded (NaN/Inf or all zeros, UPSTREAM.md: Post-processing and saving). */
export class GenerationNumericError extends AcestepError {
  constructor(message: string) {
    super(message, 'ERR_NUMERIC');
  }
}

/** Throws AbortedError when the caller's signal fired before `stage`. */
export function checkAbort(signal: AbortSignal | undefined, stage: string): void {
  throwIfAborted(signal, () => `generation aborted before ${stage}`);
}

/** Seconds since `t0` (a performance.now() reading). */
export const seconds = (t0: number) => (performance.now() - t0) / 1000;
