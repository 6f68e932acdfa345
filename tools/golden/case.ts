// A golden case directory in the ../shared/golden format: manifest.json, inputs.safetensors and
// outputs.safetensors; the checkpoint path in the manifest is relative to the set folder two
// levels above the case. Case kinds (kinds/*.ts) turn inputs into actual outputs; this module
// loads cases and compares.
import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Device } from '../../src/runtime/dtype.js';
import { AcestepError } from '../../src/runtime/errors.js';
import type { Tensor } from '../../src/runtime/tensor.js';
import { SafetensorsFile } from '../../src/io/safetensors.js';
import type { MatmulPrecision } from '../../src/runtime/ops/matmul.js';

export class GoldenCaseError extends AcestepError {
  constructor(dir: string, message: string) {
    super(`golden case ${dir}: ${message}`, 'ERR_GOLDEN_CASE');
  }
}

export interface Tolerance {
  /** Max abs error scaled by max(1, max|expected|). */
  maxAbs: number;
  cosine: number;
}

export interface CaseManifest {
  case: string;
  checkpoint?: string;
  params?: Record<string, unknown>;
  tolerance_fp32?: { max_abs?: number; cosine_min?: number };
  inputs?: Record<string, { dtype: string; shape: number[] }>;
  outputs?: Record<string, { dtype: string; shape: number[] }>;
  [key: string]: unknown;
}

export class GoldenCase {
  readonly name: string;
  readonly setDir: string;
  readonly inputs: SafetensorsFile;
  readonly outputs: SafetensorsFile;

  constructor(
    readonly dir: string,
    readonly manifest: CaseManifest,
  ) {
    this.name = basename(dir);
    this.setDir = resolve(dir, '..', '..');
    const open = (f: string) => {
      const p = join(dir, f);
      if (!existsSync(p)) throw new GoldenCaseError(dir, `missing ${f}`);
      return SafetensorsFile.open(p);
    };
    this.inputs = open('inputs.safetensors');
    this.outputs = open('outputs.safetensors');
  }

  static load(dir: string): GoldenCase {
    const abs = resolve(dir);
    const mp = join(abs, 'manifest.json');
    if (!existsSync(mp)) throw new GoldenCaseError(abs, 'no manifest.json');
    let m: CaseManifest;
    try {
      m = JSON.parse(readFileSync(mp, 'utf8'));
    } catch (e) {
      throw new GoldenCaseError(abs, `manifest.json is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof m.case !== 'string') throw new GoldenCaseError(abs, 'manifest.json has no "case" field');
    return new GoldenCase(abs, m);
  }

  /** Absolute checkpoint folder named by the manifest. */
  get checkpoint(): string {
    if (!this.manifest.checkpoint) throw new GoldenCaseError(this.dir, 'manifest names no checkpoint');
    const p = resolve(this.setDir, this.manifest.checkpoint);
    if (!existsSync(p)) throw new GoldenCaseError(this.dir, `checkpoint folder ${p} does not exist`);
    return p;
  }

  /** Another checkpoint folder of the same set (e.g. a tokenizer), relative to the set folder. */
  setPath(rel: string): string {
    return resolve(this.setDir, rel);
  }

  params<T = Record<string, unknown>>(): T {
    return (this.manifest.params ?? {}) as T;
  }

  /** Input tensor (zero-copy CPU view; the caller disposes it). */
  input(name: string): Tensor {
    if (!this.inputs.has(name)) throw new GoldenCaseError(this.dir, `inputs.safetensors has no '${name}'`);
    return this.inputs.get(name);
  }

  /** Input tensor on `device`: the file's view on the CPU, an uploaded copy elsewhere (the caller disposes it). */
  inputOn(name: string, device: Device): Tensor {
    const t = this.input(name);
    if (t.device === device) return t;
    try {
      return t.toDevice(device);
    } finally {
      t.dispose();
    }
  }

  hasInput(name: string): boolean {
    return this.inputs.has(name);
  }

  expected(name: string): Tensor {
    if (!this.outputs.has(name)) throw new GoldenCaseError(this.dir, `outputs.safetensors has no '${name}'`);
    return this.outputs.get(name);
  }

  /** The case's float tolerance (manifest tolerance_fp32, else the single-forward default). */
  tolerance(): Tolerance {
    const t = this.manifest.tolerance_fp32 ?? {};
    return { maxAbs: t.max_abs ?? 1e-4, cosine: t.cosine_min ?? 0.99999 };
  }

  close(): void {
    this.inputs.close();
    this.outputs.close();
  }
}

/** What a case kind returns for one output. */
export interface Actual {
  /** Output name in outputs.safetensors. */
  name: string;
  value: Tensor | ArrayLike<number> | BigInt64Array;
  /** 'exact' for ids, indices, masks; a float tolerance otherwise (default: the case's). */
  tol?: Tolerance | 'exact';
}

export interface RunOptions {
  backend: Device;
  /** GEMM precision of the transformer models and the VAE convs (default fp32: what the tolerances are for). */
  precision?: MatmulPrecision;
  /** 'w8a8_dynamic' quantizes the DiT and condition encoder's linears (the engine's `quantization`). */
  quantization?: 'none' | 'w8a8_dynamic';
}

export interface CaseKind {
  /** manifest.case values this kind handles. */
  cases: string[];
  /** Outputs a kind deliberately does not compute, with the reason (reported, not failed). */
  notChecked?: (c: GoldenCase) => Record<string, string>;
  run(c: GoldenCase, opts: RunOptions): Promise<Actual[]>;
}

/** The arrays one after another in one Float32Array (outputs stored as one flat tensor). */
export function concatFloat32(xs: Float32Array[]): Float32Array {
  const out = new Float32Array(xs.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of xs) {
    out.set(x, o);
    o += x.length;
  }
  return out;
}
