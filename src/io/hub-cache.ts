// Where the official checkpoints live: a checkpoint root folder in the official layout, or the
// standard Hugging Face cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else ~/.cache/huggingface/hub),
// laid out as huggingface_hub writes it (`models--ORG--NAME/{refs,blobs,snapshots}`), so weights that
// Python users already downloaded are found. The registry names each model folder and its repo.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repo holding the default DiT, the VAE, the text encoder and the 1.7B LM, each in a sub-folder. */
export const MAIN_REPO = 'ACE-Step/Ace-Step1.5';

export interface ModelSource {
  repo: string;
  /** Folder of the model inside the repo; '' = the repo root. */
  path: string;
}

/** Every official model folder name and where it is published (upstream's model registry). */
export const OFFICIAL_MODELS: Readonly<Record<string, ModelSource>> = {
  'acestep-v15-turbo': { repo: MAIN_REPO, path: 'acestep-v15-turbo' },
  vae: { repo: MAIN_REPO, path: 'vae' },
  'Qwen3-Embedding-0.6B': { repo: MAIN_REPO, path: 'Qwen3-Embedding-0.6B' },
  'acestep-5Hz-lm-1.7B': { repo: MAIN_REPO, path: 'acestep-5Hz-lm-1.7B' },
  'acestep-5Hz-lm-0.6B': { repo: 'ACE-Step/acestep-5Hz-lm-0.6B', path: '' },
  'acestep-5Hz-lm-4B': { repo: 'ACE-Step/acestep-5Hz-lm-4B', path: '' },
  'acestep-v15-base': { repo: 'ACE-Step/acestep-v15-base', path: '' },
  'acestep-v15-sft': { repo: 'ACE-Step/acestep-v15-sft', path: '' },
  'acestep-v15-turbo-shift1': { repo: 'ACE-Step/acestep-v15-turbo-shift1', path: '' },
  'acestep-v15-turbo-shift3': { repo: 'ACE-Step/acestep-v15-turbo-shift3', path: '' },
  'acestep-v15-turbo-continuous': { repo: 'ACE-Step/acestep-v15-turbo-continuous', path: '' },
  'acestep-v15-xl-base': { repo: 'ACE-Step/acestep-v15-xl-base', path: '' },
  'acestep-v15-xl-sft': { repo: 'ACE-Step/acestep-v15-xl-sft', path: '' },
  'acestep-v15-xl-turbo': { repo: 'ACE-Step/acestep-v15-xl-turbo', path: '' },
};

/** What `acestep download` fetches when no name is given: everything a text2music run with the LM needs. */
export const DEFAULT_MODELS = ['acestep-v15-turbo', 'vae', 'Qwen3-Embedding-0.6B', 'acestep-5Hz-lm-1.7B'];

/** The command line that downloads the named models into the cache. */
export function downloadCommand(names: readonly string[] = []): string {
  return ['npx acestep download', ...names].join(' ');
}

type Env = Record<string, string | undefined>;

/** The hub cache folder, honouring HF_HUB_CACHE, HF_HOME and XDG_CACHE_HOME as huggingface_hub does. */
export function hubCacheDir(env: Env = process.env): string {
  if (env.HF_HUB_CACHE) return resolve(env.HF_HUB_CACHE);
  const home = env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface');
  return resolve(home, 'hub');
}

/** `<cache>/models--ORG--NAME`. */
export function repoCacheDir(cacheDir: string, repo: string): string {
  return join(cacheDir, `models--${repo.split('/').join('--')}`);
}

/** The snapshot folder a ref (branch name) or commit points at, or null when it is not cached. */
export function snapshotDir(cacheDir: string, repo: string, revision = 'main'): string | null {
  const base = repoCacheDir(cacheDir, repo);
  const refFile = join(base, 'refs', revision);
  const commit = existsSync(refFile) ? readFileSync(refFile, 'utf8').trim() : /^[0-9a-f]{40}$/.test(revision) ? revision : null;
  if (!commit) return null;
  const dir = join(base, 'snapshots', commit);
  return isDir(dir) ? dir : null;
}

function isDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}

/** A model folder counts as present when it holds its config.json. */
function hasModel(dir: string): boolean {
  return existsSync(join(dir, 'config.json'));
}

/** Where the engine looks for model folders by name. */
export interface CheckpointSource {
  /** The checkpoint root, or the hub cache folder. */
  readonly root: string;
  /** The folder of a model, or null when it is not there. */
  find(name: string): string | null;
  /** Model folder names present. */
  names(): string[];
  /** How to get a missing model (a sentence, or ''). */
  hint(names: readonly string[]): string;
}

/** Model folders under one root in the official layout. */
export function rootSource(root: string): CheckpointSource {
  const dir = resolve(root);
  return {
    root: dir,
    find: (name) => (isDir(join(dir, name)) ? join(dir, name) : null),
    names: () => (isDir(dir) ? readdirSync(dir).filter((n) => isDir(join(dir, n))) : []),
    hint: () => '',
  };
}

/** The official models found in the Hugging Face cache (main branch snapshots). */
export function hubCacheSource(cacheDir: string = hubCacheDir()): CheckpointSource {
  const find = (name: string): string | null => {
    const src = OFFICIAL_MODELS[name];
    const snap = src ? snapshotDir(cacheDir, src.repo) : null;
    const dir = snap ? join(snap, src.path) : null;
    return dir && hasModel(dir) ? dir : null;
  };
  return {
    root: cacheDir,
    find,
    names: () => Object.keys(OFFICIAL_MODELS).filter((n) => find(n) !== null),
    hint: (names) => {
      const known = names.filter((n) => n in OFFICIAL_MODELS);
      return `; not in the Hugging Face cache ${cacheDir}: get it with \`${downloadCommand(known.slice(0, 1))}\` (or pass --checkpoints DIR)`;
    },
  };
}

/** A root folder when one is given, else the Hugging Face cache. */
export function checkpointSource(root?: string | null): CheckpointSource {
  return root ? rootSource(root) : hubCacheSource();
}
