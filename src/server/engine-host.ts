// The process's one engine: loaded once, used by one caller at a time (jobs, LM endpoints, model
// switches and adapter changes queue up on one lock), and swapped for another DiT by /v1/init.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { AceStep, DIT_MODEL_NAMES, LM_MODEL_NAMES, type AceStepOptions } from '../pipeline/engine.js';

export class EngineHost {
  private engine: AceStep | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private loading: Promise<AceStep> | null = null;

  constructor(private options: AceStepOptions & { checkpoints: string }) {}

  get checkpoints(): string {
    return this.options.checkpoints;
  }

  /** The loaded engine, or null before the first load finished. */
  get current(): AceStep | null {
    return this.engine;
  }

  /** Loads the models (once). */
  load(): Promise<AceStep> {
    if (this.engine) return Promise.resolve(this.engine);
    this.loading ??= AceStep.load(this.options).then((e) => (this.engine = e));
    return this.loading;
  }

  /** Runs `fn` with the engine once every earlier caller is done. */
  exclusive<T>(fn: (engine: AceStep) => Promise<T> | T): Promise<T> {
    const run = this.tail.then(async () => fn(await this.load()));
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Replaces the engine with one on another DiT (and optionally the LM loaded). */
  switchModel(ditModel: string | undefined, lmModel: string | undefined, initLm: boolean): Promise<AceStep> {
    return this.exclusive(async (old) => {
      const wantDit = ditModel ?? basename(old.ditDir);
      const wantLm = lmModel ?? (old.lmDir ? basename(old.lmDir) : undefined);
      if (wantDit !== basename(old.ditDir) || wantLm !== (old.lmDir ? basename(old.lmDir) : undefined)) {
        const next = await AceStep.load({ ...this.options, ditModel: wantDit, lmModel: wantLm, preloadLm: initLm });
        old.dispose();
        this.engine = next;
        this.options = { ...this.options, ditModel: wantDit, lmModel: wantLm };
      } else if (initLm && old.hasLm) old.getLm();
      return this.engine!;
    });
  }

  /** DiT folders present under the checkpoint root, known names first. */
  ditModels(): string[] {
    return listModels(this.options.checkpoints, DIT_MODEL_NAMES, 'acestep-v15');
  }

  lmModels(): string[] {
    return listModels(this.options.checkpoints, LM_MODEL_NAMES, 'acestep-5Hz-lm');
  }

  dispose(): void {
    this.engine?.dispose();
    this.engine = null;
  }
}

function listModels(root: string, known: string[], prefix: string): string[] {
  if (!existsSync(root)) return [];
  const present = readdirSync(root).filter((n) => n.startsWith(prefix) && statSync(join(root, n)).isDirectory());
  return [...known.filter((n) => present.includes(n)), ...present.filter((n) => !known.includes(n)).sort()];
}
