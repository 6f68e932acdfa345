// A model checkpoint directory: config.json plus weights in one safetensors file
// (model.safetensors or diffusion_pytorch_model.safetensors) or a sharded set described by
// model.safetensors.index.json. Tensors come back as zero-copy views of the memory-mapped files.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { DType } from '../runtime/dtype.js';
import type { Tensor } from '../runtime/tensor.js';
import { CheckpointError } from './errors.js';
import { SafetensorsFile, type TensorInfo } from './safetensors.js';

/** Weight files tried in order when a directory has no shard index. */
export const WEIGHT_FILES = ['model.safetensors', 'diffusion_pytorch_model.safetensors'];
export const INDEX_FILES = ['model.safetensors.index.json', 'diffusion_pytorch_model.safetensors.index.json'];

export interface CheckpointOptions {
  /**
   * A prefix removed from stored names that carry it, so `model.layers.0...` is found as
   * `layers.0...` (LM files may or may not carry `model.`). Stored names without it stay as they are.
   */
  stripPrefix?: string;
  /** Reject a directory without config.json (default true). */
  requireConfig?: boolean;
}

export interface ExpectOptions {
  /** Stored tensors matching one of these are not reported as unexpected (e.g. unused buffers). */
  ignoreUnexpected?: RegExp[];
}

export class Checkpoint {
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly config: Record<string, unknown>,
    private readonly files: SafetensorsFile[],
    /** Lookup name -> the file that holds it and the name stored there. */
    private readonly entries: Map<string, { file: SafetensorsFile; stored: string }>,
    private readonly stripPrefix: string | undefined,
  ) {}

  static open(dir: string, opts: CheckpointOptions = {}): Checkpoint {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new CheckpointError('checkpoint directory does not exist', dir);
    const config = readConfig(dir, opts.requireConfig ?? true);
    const files: SafetensorsFile[] = [];
    try {
      const entries = new Map<string, { file: SafetensorsFile; stored: string }>();
      const add = (file: SafetensorsFile, stored: string): void => {
        const key = opts.stripPrefix && stored.startsWith(opts.stripPrefix) ? stored.slice(opts.stripPrefix.length) : stored;
        const prev = entries.get(key);
        if (prev) {
          throw new CheckpointError(
            `tensor name '${key}' is stored twice (also as '${prev.stored}' in ${prev.file.path})`,
            file.path,
            stored,
          );
        }
        entries.set(key, { file, stored });
      };
      const indexName = INDEX_FILES.find((f) => existsSync(join(dir, f)));
      if (indexName) {
        const indexPath = join(dir, indexName);
        const weightMap = readWeightMap(indexPath);
        const byFile = new Map<string, SafetensorsFile>();
        for (const [name, shard] of weightMap) {
          let file = byFile.get(shard);
          if (!file) {
            const shardPath = join(dir, shard);
            if (!existsSync(shardPath)) throw new CheckpointError(`shard '${shard}' listed in ${indexName} is missing`, shardPath, name);
            file = SafetensorsFile.open(shardPath, { populate: true }); // model weights: mapped in at load
            files.push(file);
            byFile.set(shard, file);
          }
          if (!file.has(name)) throw new CheckpointError(`tensor listed in ${indexName} is not in this shard`, file.path, name);
          add(file, name);
        }
        for (const file of files) {
          for (const name of file.names) {
            if (weightMap.get(name) !== basename(file.path)) {
              throw new CheckpointError(`tensor is in this shard but ${indexName} maps it elsewhere`, file.path, name);
            }
          }
        }
      } else {
        const weights = WEIGHT_FILES.find((f) => existsSync(join(dir, f)));
        if (!weights) throw new CheckpointError(`no weights: none of ${[...WEIGHT_FILES, ...INDEX_FILES].join(', ')}`, dir);
        const file = SafetensorsFile.open(join(dir, weights), { populate: true });
        files.push(file);
        for (const name of file.names) add(file, name);
      }
      return new Checkpoint(dir, config, files, entries, opts.stripPrefix);
    } catch (e) {
      for (const f of files) f.close();
      throw e;
    }
  }

  /** Lookup names (after prefix stripping), in file order. */
  get names(): string[] {
    return [...this.entries.keys()];
  }

  /** The weight files opened (one, or every shard). */
  get paths(): string[] {
    return this.files.map((f) => f.path);
  }

  has(name: string): boolean {
    return this.resolve(name) !== undefined;
  }

  /** File, stored name, dtype, shape and offsets of a tensor. */
  info(name: string): TensorInfo & { file: string } {
    const e = this.require(name);
    return { ...e.file.info(e.stored), file: e.file.path };
  }

  /**
   * A zero-copy CPU view of a stored tensor (the caller owns it: dispose it or let `tidy` do so).
   * With `expect`, a shape or dtype that differs is a CheckpointError naming the tensor.
   */
  get(name: string, expect: { shape?: readonly number[]; dtype?: DType | readonly DType[] } = {}): Tensor {
    const e = this.require(name);
    const info = e.file.info(e.stored);
    if (expect.shape && (expect.shape.length !== info.shape.length || expect.shape.some((d, i) => d !== info.shape[i]))) {
      throw new CheckpointError(
        `shape [${info.shape.join(', ')}] but the model expects [${expect.shape.join(', ')}]`,
        e.file.path,
        e.stored,
      );
    }
    if (expect.dtype) {
      const allowed = typeof expect.dtype === 'string' ? [expect.dtype] : expect.dtype;
      if (!allowed.includes(info.dtype))
        throw new CheckpointError(`dtype ${info.dtype} but the model expects ${allowed.join(' or ')}`, e.file.path, e.stored);
    }
    return e.file.get(e.stored);
  }

  /**
   * Checks that the checkpoint holds exactly `names`: throws one CheckpointError listing every
   * missing and every unexpected tensor, so a wrong or mismatched checkpoint fails before loading.
   */
  expectTensors(names: Iterable<string>, opts: ExpectOptions = {}): void {
    this.ensureOpen();
    const wanted = new Set(names);
    const found = new Set<string>();
    const missing: string[] = [];
    for (const n of wanted) {
      const key = this.resolveKey(n);
      if (key === undefined) missing.push(n);
      else found.add(key);
    }
    const unexpected = this.names.filter((n) => !found.has(n) && !(opts.ignoreUnexpected ?? []).some((r) => r.test(n)));
    if (missing.length === 0 && unexpected.length === 0) return;
    const list = (xs: string[]): string => (xs.length > 20 ? `${xs.slice(0, 20).join(', ')}, ... (${xs.length} in all)` : xs.join(', '));
    const parts: string[] = [];
    if (missing.length) parts.push(`${missing.length} missing tensor(s): ${list(missing)}`);
    if (unexpected.length) parts.push(`${unexpected.length} unexpected tensor(s): ${list(unexpected)}`);
    const err = new CheckpointError(parts.join('; '), this.paths.join(', '), missing[0] ?? unexpected[0]);
    Object.assign(err, { missing, unexpected });
    throw err;
  }

  /** Closes every weight file; tensors already taken stay valid (they hold the mapping). */
  /** `using ckpt = Checkpoint.open(...)` releases the mapping when the block ends. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const f of this.files) f.close();
  }

  private ensureOpen(): void {
    if (this.closed) throw new CheckpointError('checkpoint was disposed', this.dir);
  }

  /** The lookup key for `name`: as given, or with the strip prefix removed or added. */
  private resolveKey(name: string): string | undefined {
    if (this.entries.has(name)) return name;
    const p = this.stripPrefix ?? 'model.';
    if (name.startsWith(p) && this.entries.has(name.slice(p.length))) return name.slice(p.length);
    if (!this.stripPrefix && this.entries.has(p + name)) return p + name;
    return undefined;
  }

  private resolve(name: string): { file: SafetensorsFile; stored: string } | undefined {
    this.ensureOpen();
    const key = this.resolveKey(name);
    return key === undefined ? undefined : this.entries.get(key);
  }

  private require(name: string): { file: SafetensorsFile; stored: string } {
    const e = this.resolve(name);
    if (!e) throw new CheckpointError('tensor not found in checkpoint', this.paths.join(', '), name);
    return e;
  }
}

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CheckpointError(`cannot read ${what}: ${(e as Error).message}`, path);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${what} is not valid JSON: ${(e as Error).message}`, path);
  }
}

function readConfig(dir: string, required: boolean): Record<string, unknown> {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) {
    if (required) throw new CheckpointError('config.json is missing', path);
    return {};
  }
  const json = readJson(path, 'config.json');
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new CheckpointError('config.json is not a JSON object', path);
  return json as Record<string, unknown>;
}

function readWeightMap(path: string): Map<string, string> {
  const json = readJson(path, 'shard index') as { weight_map?: unknown } | null;
  const wm = json && typeof json === 'object' ? json.weight_map : undefined;
  if (wm === null || typeof wm !== 'object' || Array.isArray(wm)) throw new CheckpointError('shard index has no weight_map object', path);
  const out = new Map<string, string>();
  for (const [name, file] of Object.entries(wm as Record<string, unknown>)) {
    // A shard name must be a plain file in the same directory: no path traversal.
    if (typeof file !== 'string' || file === '' || file.includes('/') || file.includes('\\') || file === '.' || file === '..') {
      throw new CheckpointError(`weight_map entry ${JSON.stringify(file)} is not a shard file name`, path, name);
    }
    out.set(name, file);
  }
  if (out.size === 0) throw new CheckpointError('weight_map is empty', path);
  return out;
}
