// LoRA (PEFT) and LoKr (LyCORIS) adapters on the DiT decoder (UPSTREAM.md: LoRA). An adapter never touches
// the base weights: each adapted Linear gets an extra branch on its output (`Linear.delta`), so
// scale 0, switching to no adapter or unloading gives back the base output bit for bit.
//
//   LoRA: y = W·x + s·(alpha/r)·B·(A·x)           A [r, in], B [out, r] (alpha/sqrt(r) with rsLoRA)
//   LoKr: y = W·x + s·c·kron(w1, w2)·x            w1 [a, c1], w2 [b, c2], a·b = out, c1·c2 = in
//
// The LoKr branch never builds the [out, in] product: with x viewed as X [c1, c2],
// kron(w1, w2)·x = vec(w1·X·w2ᵀ), two small GEMMs per row. Several adapters can be loaded; at most
// one is active. The cross-attention K/V of a `DiTCondition` are computed through the adapted
// k_proj/v_proj, so a condition prepared before an adapter change must be prepared again.
//
// The manager's state is what a plain forward of the model sees. A generation instead takes an
// `AdapterSnapshot` at its start (optionally naming another adapter and scale for that call) and
// runs every DiT forward inside `snapshot.run`, so later loads, unloads and rescales, also by a
// concurrent caller, reach only later calls; an unloaded adapter's tensors live until the last
// snapshot holding them is released.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AcestepError, keep, linear, matmul, scale as scaleBy, tidy, Tensor, type Device } from '../runtime/index.js';
import { SafetensorsFile } from '../io/safetensors.js';
import { place, type Linear, type LinearDelta } from './layers.js';

/** A bad adapter file or an adapter operation that cannot be done; names the file and tensor where known. */
export class AdapterError extends AcestepError {
  constructor(
    message: string,
    readonly file?: string,
    readonly tensor?: string,
  ) {
    super(`${file ? `${file}${tensor ? ` [${tensor}]` : ''}: ` : ''}${message}`, 'ERR_ADAPTER');
  }
}

/** What an adapter attaches to: Linear layers by upstream module path (`AceStepDiT.linearModules()`). */
export interface AdaptableModel {
  linearModules(): Map<string, Linear>;
}

export type AdapterKind = 'lora' | 'lokr';

export interface AdapterInfo {
  name: string;
  kind: AdapterKind;
  /** The safetensors file the weights came from. */
  file: string;
  /** User scale in [0, 1] (1 = as trained). */
  scale: number;
  /** Adapted module paths, sorted. */
  modules: string[];
  /** sha256 (hex) of the weights file, upstream's lora_weights_hash. */
  weightsHash: string;
}

export interface LoadAdapterOptions {
  /** Adapter name; default: the directory or file name. */
  name?: string;
  /** User scale in [0, 1], default 1. */
  scale?: number;
  /** Make it the active adapter (default true). */
  activate?: boolean;
}

/** One adapted Linear's branch at a given user scale (the trained scale times the user's). */
type Branch = (userScale: number) => LinearDelta;

/**
 * LoRA branch. The scale goes on the rank-r intermediate rather than the output (PEFT scales
 * after B): the same product up to rounding, at r instead of out elements per row.
 */
class LoraDelta implements LinearDelta {
  constructor(
    readonly a: Tensor,
    readonly b: Tensor,
    readonly factor: number,
  ) {}

  forward(x: Tensor): Tensor {
    return tidy(() => linear(scaleBy(linear(x, this.a), this.factor), this.b));
  }
}

/**
 * LoKr branch: vec((c·s·w1)·X·w2ᵀ) for each row x viewed as X [c1, c2]. Scaling the small w1 and
 * multiplying it from the left as a broadcast batch matmul keeps every intermediate contiguous
 * (no transposed copies of activation-sized tensors).
 */
class LokrDelta implements LinearDelta {
  constructor(
    readonly w1: Tensor,
    readonly w2: Tensor,
    readonly factor: number,
  ) {}

  forward(x: Tensor): Tensor {
    const [a, c1] = this.w1.shape;
    const [b, c2] = this.w2.shape;
    const lead = x.shape.slice(0, -1);
    return tidy(() => {
      const z = linear(x.reshape([-1, c1, c2]), this.w2); // [M, c1, b] = X·w2ᵀ
      const y = matmul(scaleBy(this.w1, this.factor), z); // [M, a, b]
      return y.reshape([...lead, a * b]);
    });
  }
}

interface Adapter {
  name: string;
  kind: AdapterKind;
  file: string;
  weightsHash: string;
  scale: number;
  branches: Map<string, Branch>;
  owned: Tensor[];
  /** Snapshots holding this adapter; its tensors are freed when it is unloaded and this is 0. */
  holders: number;
  unloaded: boolean;
}

/** A private f32 copy of a file tensor on `device` (file views would pin the mapping). */
function ownedF32(t: Tensor, device: Device): Tensor {
  return place(Tensor.empty(t.shape, 'f32', 'cpu').assign(t), device);
}

function readJson(path: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new AdapterError(`${what} is not readable JSON: ${(e as Error).message}`, path);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new AdapterError(`${what} is not a JSON object`, path);
  return v as Record<string, unknown>;
}

/** PEFT's list form of target_modules: exact name or a `.`-separated suffix; a string is a full-match regex. */
function targetMatcher(tm: unknown, cfgPath: string): (module: string) => boolean {
  if (tm === undefined || tm === null) return () => true;
  if (typeof tm === 'string') {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${tm})$`);
    } catch (e) {
      throw new AdapterError(`target_modules regex ${JSON.stringify(tm)} is invalid: ${(e as Error).message}`, cfgPath);
    }
    return (m) => re.test(m);
  }
  if (Array.isArray(tm) && tm.every((s) => typeof s === 'string')) {
    const list = tm as string[];
    return (m) => list.some((s) => m === s || m.endsWith(`.${s}`));
  }
  throw new AdapterError(`target_modules must be a list of names or a regex string, got ${JSON.stringify(tm)}`, cfgPath);
}

/** rank_pattern / alpha_pattern: per-module overrides keyed by a module-path suffix. */
function patternLookup(p: unknown, field: string, cfgPath: string): (module: string) => number | undefined {
  if (p === undefined || p === null) return () => undefined;
  if (typeof p !== 'object' || Array.isArray(p) || !Object.values(p).every((v) => typeof v === 'number' && v > 0)) {
    throw new AdapterError(`${field} must map module names to positive numbers`, cfgPath);
  }
  const entries = Object.entries(p as Record<string, number>);
  return (m) => entries.find(([k]) => m === k || m.endsWith(`.${k}`))?.[1];
}

interface LoraConfig {
  r: number;
  alpha: number;
  rslora: boolean;
  targets: (m: string) => boolean;
  rankOf: (m: string) => number | undefined;
  alphaOf: (m: string) => number | undefined;
}

function parseLoraConfig(cfgPath: string): LoraConfig {
  const cfg = readJson(cfgPath, 'adapter_config.json');
  const type = cfg.peft_type;
  if (typeof type !== 'string') throw new AdapterError('adapter_config.json has no peft_type', cfgPath);
  if (type.toUpperCase() !== 'LORA')
    throw new AdapterError(`unknown peft_type ${JSON.stringify(type)} (supported: LORA; LoKr comes as lokr_weights.safetensors)`, cfgPath);
  const r = cfg.r ?? 8;
  if (!Number.isInteger(r) || (r as number) <= 0)
    throw new AdapterError(`r must be a positive integer, got ${JSON.stringify(cfg.r)}`, cfgPath);
  // PEFT's default lora_alpha is 8.
  const alpha = cfg.lora_alpha ?? 8;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha))
    throw new AdapterError(`lora_alpha must be a number, got ${JSON.stringify(cfg.lora_alpha)}`, cfgPath);
  if (cfg.use_dora === true) throw new AdapterError('DoRA adapters (use_dora) are not supported', cfgPath);
  return {
    r: r as number,
    alpha,
    rslora: cfg.use_rslora === true,
    targets: targetMatcher(cfg.target_modules, cfgPath),
    rankOf: patternLookup(cfg.rank_pattern, 'rank_pattern', cfgPath),
    alphaOf: patternLookup(cfg.alpha_pattern, 'alpha_pattern', cfgPath),
  };
}

/** `base_model.model.<module>.lora_{A,B}[.<adapter>].weight`; a `decoder.` prefix is tolerated. */
const PEFT_KEY = /^(?:base_model\.model\.)?(?:decoder\.)?(.+)\.lora_([AB])(?:\.[A-Za-z0-9_-]+)?\.weight$/;
const LOKR_KEY = /^lycoris_(.+)\.(lokr_w1|lokr_w1_a|lokr_w1_b|lokr_w2|lokr_w2_a|lokr_w2_b|lokr_t2|alpha|dora_scale)$/;

function shapeStr(s: readonly number[]): string {
  return `[${s.join(',')}]`;
}

function lookupModule(modules: Map<string, Linear>, path: string, file: string, key: string): Linear {
  const m = modules.get(path);
  if (!m) throw new AdapterError(`module '${path}' matches no Linear of the DiT decoder`, file, key);
  return m;
}

/** Runs a loader body in a scope; on failure the tensors it already kept are freed too. */
function buildAll(owned: Tensor[], body: () => void): void {
  try {
    tidy(body);
  } catch (e) {
    for (const t of owned) t.dispose();
    throw e;
  }
}

function buildLora(st: SafetensorsFile, cfg: LoraConfig, modules: Map<string, Linear>): { branches: Map<string, Branch>; owned: Tensor[] } {
  const file = st.path;
  const pairs = new Map<string, { A?: string; B?: string }>();
  for (const key of st.names) {
    const m = PEFT_KEY.exec(key);
    if (!m) throw new AdapterError('not a LoRA tensor (expected <module>.lora_A.weight or <module>.lora_B.weight)', file, key);
    const path = m[1];
    lookupModule(modules, path, file, key);
    if (!cfg.targets(path)) throw new AdapterError(`module '${path}' is not in the adapter's target_modules`, file, key);
    const p = pairs.get(path) ?? {};
    p[m[2] as 'A' | 'B'] = key;
    pairs.set(path, p);
  }
  if (pairs.size === 0) throw new AdapterError('holds no LoRA tensors', file);
  const branches = new Map<string, Branch>();
  const owned: Tensor[] = [];
  buildAll(owned, () => {
    for (const [path, { A, B }] of pairs) {
      if (!A || !B) throw new AdapterError(`lora_${A ? 'B' : 'A'} is missing for module '${path}'`, file, A ?? B);
      const lin = modules.get(path)!;
      const a = st.info(A).shape;
      const b = st.info(B).shape;
      if (a.length !== 2) throw new AdapterError(`lora_A must be [r, in], found ${shapeStr(a)}`, file, A);
      if (b.length !== 2) throw new AdapterError(`lora_B must be [out, r], found ${shapeStr(b)}`, file, B);
      if (a[1] !== lin.inFeatures)
        throw new AdapterError(`shape mismatch: lora_A ${shapeStr(a)} reads ${a[1]} features, '${path}' takes ${lin.inFeatures}`, file, A);
      if (b[0] !== lin.outFeatures)
        throw new AdapterError(
          `shape mismatch: lora_B ${shapeStr(b)} writes ${b[0]} features, '${path}' gives ${lin.outFeatures}`,
          file,
          B,
        );
      if (a[0] !== b[1])
        throw new AdapterError(`rank mismatch: lora_A ${shapeStr(a)} has rank ${a[0]}, lora_B ${shapeStr(b)} has rank ${b[1]}`, file, B);
      const r = cfg.rankOf(path) ?? cfg.r;
      if (a[0] !== r)
        throw new AdapterError(`rank mismatch: lora_A ${shapeStr(a)} has rank ${a[0]}, adapter_config.json says r=${r}`, file, A);
      const alpha = cfg.alphaOf(path) ?? cfg.alpha;
      const base = cfg.rslora ? alpha / Math.sqrt(r) : alpha / r;
      const dev = lin.weight.device;
      const ta = keep(ownedF32(st.get(A), dev));
      const tb = keep(ownedF32(st.get(B), dev));
      owned.push(ta, tb);
      branches.set(path, (s) => new LoraDelta(ta, tb, base * s));
    }
  });
  return { branches, owned };
}

function scalarOf(st: SafetensorsFile, key: string): number {
  const info = st.info(key);
  if (info.shape.reduce((x, y) => x * y, 1) !== 1)
    throw new AdapterError(`alpha must be a scalar, found ${shapeStr(info.shape)}`, st.path, key);
  return tidy(() => st.get(key).toFloat32Sync()[0]);
}

function buildLokr(st: SafetensorsFile, modules: Map<string, Linear>): { branches: Map<string, Branch>; owned: Tensor[] } {
  const file = st.path;
  // LyCORIS names a module `lycoris_` + its path with dots turned into underscores.
  const byFlat = new Map<string, string>();
  for (const path of modules.keys()) byFlat.set(path.replace(/\./g, '_'), path);
  const groups = new Map<string, Map<string, string>>();
  for (const key of st.names) {
    const m = LOKR_KEY.exec(key);
    if (!m) throw new AdapterError('not a LoKr tensor (expected lycoris_<module>.lokr_w1/_w2[_a|_b] or .alpha)', file, key);
    const path = byFlat.get(m[1]);
    if (!path) throw new AdapterError(`module 'lycoris_${m[1]}' matches no Linear of the DiT decoder`, file, key);
    if (m[2] === 'lokr_t2')
      throw new AdapterError('Tucker-decomposed LoKr (lokr_t2) is for convolutions; DiT Linears cannot take it', file, key);
    if (m[2] === 'dora_scale') throw new AdapterError('weight-decomposed LoKr (dora_scale) is not supported', file, key);
    const g = groups.get(path) ?? new Map<string, string>();
    g.set(m[2], key);
    groups.set(path, g);
  }
  const branches = new Map<string, Branch>();
  const owned: Tensor[] = [];
  buildAll(owned, () => {
    for (const [path, g] of groups) {
      const lin = modules.get(path)!;
      const dev = lin.weight.device;
      let rank: number | undefined;
      // A full factor, or the product of its two low-rank halves (whose rank sets alpha's divisor).
      const factor = (n: '1' | '2'): Tensor => {
        const full = g.get(`lokr_w${n}`);
        const ka = g.get(`lokr_w${n}_a`);
        const kb = g.get(`lokr_w${n}_b`);
        if (full) {
          const s = st.info(full).shape;
          if (s.length !== 2) throw new AdapterError(`lokr_w${n} must be 2-D, found ${shapeStr(s)}`, file, full);
          return ownedF32(st.get(full), dev);
        }
        if (!ka || !kb)
          throw new AdapterError(
            `module '${path}' needs lokr_w${n} or both lokr_w${n}_a and lokr_w${n}_b`,
            file,
            ka ?? kb ?? g.values().next().value,
          );
        const sa = st.info(ka).shape;
        const sb = st.info(kb).shape;
        if (sa.length !== 2 || sb.length !== 2)
          throw new AdapterError(`lokr_w${n}_a ${shapeStr(sa)} and lokr_w${n}_b ${shapeStr(sb)} must be 2-D`, file, ka);
        if (sa[1] !== sb[0])
          throw new AdapterError(
            `rank mismatch: lokr_w${n}_a ${shapeStr(sa)} has rank ${sa[1]}, lokr_w${n}_b ${shapeStr(sb)} has rank ${sb[0]}`,
            file,
            kb,
          );
        if (rank !== undefined && rank !== sb[0])
          throw new AdapterError(`rank mismatch: lokr_w1 factors have rank ${rank}, lokr_w2 factors ${sb[0]}`, file, kb);
        rank = sb[0];
        return matmul(ownedF32(st.get(ka), dev), ownedF32(st.get(kb), dev));
      };
      const w1 = factor('1');
      const w2 = factor('2');
      const [a, c1] = w1.shape;
      const [b, c2] = w2.shape;
      if (a * b !== lin.outFeatures || c1 * c2 !== lin.inFeatures) {
        throw new AdapterError(
          `shape mismatch: kron(w1 ${shapeStr(w1.shape)}, w2 ${shapeStr(w2.shape)}) is [${a * b},${c1 * c2}], '${path}' is [${lin.outFeatures},${lin.inFeatures}]`,
          file,
          g.get('lokr_w1') ?? g.get('lokr_w1_a'),
        );
      }
      // LyCORIS: scale = alpha / rank (a missing or zero alpha means alpha = rank), and exactly 1
      // when both factors are stored whole.
      const alphaKey = g.get('alpha');
      let base = 1;
      if (rank !== undefined) {
        const alpha = alphaKey !== undefined ? scalarOf(st, alphaKey) : 0;
        base = (alpha === 0 ? rank : alpha) / rank;
      }
      owned.push(keep(w1), keep(w2));
      branches.set(path, (s) => new LokrDelta(w1, w2, base * s));
    }
  });
  if (branches.size === 0) throw new AdapterError('holds no LoKr tensors', file);
  return { branches, owned };
}

/** Resolves a path to the weights file, its kind, and (LoRA) its adapter_config.json. */
function locate(path: string): { kind: AdapterKind; weights: string; config?: string } {
  if (!existsSync(path)) throw new AdapterError('adapter path does not exist', path);
  if (statSync(path).isDirectory()) {
    const cfg = join(path, 'adapter_config.json');
    const peft = join(path, 'adapter_model.safetensors');
    const lokr = join(path, 'lokr_weights.safetensors');
    if (existsSync(cfg)) {
      if (!existsSync(peft)) {
        const bin = existsSync(join(path, 'adapter_model.bin')) ? ' (adapter_model.bin is a pickle; only safetensors are read)' : '';
        throw new AdapterError(`no adapter_model.safetensors next to adapter_config.json${bin}`, path);
      }
      return { kind: 'lora', weights: peft, config: cfg };
    }
    if (existsSync(lokr)) return { kind: 'lokr', weights: lokr };
    throw new AdapterError('missing adapter_config.json (a PEFT LoRA directory) and no lokr_weights.safetensors', path);
  }
  if (basename(path) === 'lokr_weights.safetensors') return { kind: 'lokr', weights: path };
  let meta: Record<string, string>;
  {
    using st = SafetensorsFile.open(path);
    meta = st.metadata;
  }
  if ('lokr_config' in meta) return { kind: 'lokr', weights: path };
  const cfg = join(dirname(path), 'adapter_config.json');
  if (!existsSync(cfg)) throw new AdapterError(`missing adapter_config.json next to the weights (and no lokr_config metadata)`, path);
  return { kind: 'lora', weights: path, config: cfg };
}

/** sha256 of a file, read in 1 MiB chunks (adapter files can be hundreds of MB). */
function fileSha256(path: string): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  const fd = openSync(path, 'r');
  try {
    for (let n = readSync(fd, buf); n > 0; n = readSync(fd, buf)) h.update(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** A per-call choice: another loaded adapter and/or another scale than the manager's active one. */
export interface AdapterSelection {
  /** A loaded adapter by name; absent = the active one (none when none is active). */
  name?: string;
  /** User scale in [0, 1]; absent = the chosen adapter's own scale. */
  scale?: number;
}

/**
 * The adapter state one run uses, fixed when it was taken. `run` puts it on the model for the
 * length of a synchronous call (a forward or a condition preparation) and puts back what was
 * there; JS runs one such call at a time, so concurrent runs each see their own snapshot.
 */
export class AdapterSnapshot {
  private released = false;

  constructor(
    /** The adapter that runs; null = the base model. */
    readonly name: string | null,
    /** Its user scale (1 when none runs, as upstream's handler reports). */
    readonly scale: number,
    /** sha256 of its weights file; '' when none runs (upstream's lora_weights_hash). */
    readonly weightsHash: string,
    /** Whether any adapter was loaded when the snapshot was taken (upstream's lora_loaded). */
    readonly loaded: boolean,
    private readonly deltas: ReadonlyArray<readonly [Linear, LinearDelta | null]>,
    private readonly onRelease: () => void,
  ) {}

  run<T>(fn: () => T): T {
    if (this.released) throw new AdapterError('the adapter snapshot was released');
    const saved = this.deltas.map(([lin]) => lin.delta);
    for (const [lin, d] of this.deltas) lin.delta = d;
    try {
      const out = fn();
      if (out instanceof Promise)
        throw new AdapterError('AdapterSnapshot.run takes a synchronous function (the adapters are in place only while it runs)');
      return out;
    } finally {
      this.deltas.forEach(([lin], i) => (lin.delta = saved[i]));
    }
  }

  /** Lets go of the adapter (an adapter unloaded meanwhile is freed with its last snapshot). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease();
  }
}

export interface AdapterManagerOptions {
  /** Called first by every operation; throws when the owner (an engine) is gone. */
  checkAlive?: () => void;
}

/**
 * Loaded adapters of one model and which one is active. Construct once per model; adapters load
 * and unload without reloading the base weights.
 */
export class AdapterManager {
  private readonly modules: Map<string, Linear>;
  private readonly adapters = new Map<string, Adapter>();
  private activeName: string | null = null;
  private disposed = false;

  constructor(
    model: AdaptableModel,
    private readonly opts: AdapterManagerOptions = {},
  ) {
    this.modules = model.linearModules();
  }

  get active(): string | null {
    return this.activeName;
  }

  has(name: string): boolean {
    return this.adapters.has(name);
  }

  list(): AdapterInfo[] {
    return [...this.adapters.values()].map((a) => ({
      name: a.name,
      kind: a.kind,
      file: a.file,
      scale: a.scale,
      modules: [...a.branches.keys()].sort(),
      weightsHash: a.weightsHash,
    }));
  }

  /** Loads a PEFT LoRA directory / weights file or a LoKr safetensors; LoKr is detected from the file. */
  loadLora(path: string, opts: LoadAdapterOptions = {}): AdapterInfo {
    this.checkOpen();
    const name = opts.name ?? basename(path);
    if (this.adapters.has(name))
      throw new AdapterError(`an adapter named '${name}' is already loaded; unload it first or pick another name`, path);
    if ([...this.modules.values()].some((m) => m.isW8A8))
      throw new AdapterError(
        'adapters cannot be loaded onto a quantized DiT (quantization w8a8_dynamic); load the engine without quantization',
        path,
      );
    const userScale = opts.scale ?? 1;
    checkScale(userScale, name);
    const where = locate(path);
    const cfg = where.config ? parseLoraConfig(where.config) : undefined;
    let built: { branches: Map<string, Branch>; owned: Tensor[] };
    {
      using st = SafetensorsFile.open(where.weights);
      built = where.kind === 'lora' ? buildLora(st, cfg!, this.modules) : buildLokr(st, this.modules);
    }
    let weightsHash: string;
    try {
      weightsHash = fileSha256(where.weights);
    } catch (e) {
      for (const t of built.owned) t.dispose();
      throw new AdapterError(`cannot read the weights to hash them: ${(e as Error).message}`, where.weights);
    }
    const adapter: Adapter = {
      name,
      kind: where.kind,
      file: where.weights,
      weightsHash,
      branches: built.branches,
      owned: built.owned,
      scale: userScale,
      holders: 0,
      unloaded: false,
    };
    this.adapters.set(name, adapter);
    if (opts.activate ?? true) this.setActiveAdapter(name);
    return this.list().find((a) => a.name === name)!;
  }

  /** Makes `name` the one active adapter, or none with null. */
  setActiveAdapter(name: string | null): void {
    this.checkOpen();
    if (name !== null) this.get(name);
    this.activeName = name;
    this.apply();
  }

  setAdapterScale(name: string, scale: number): void {
    this.checkOpen();
    checkScale(scale, name);
    this.get(name).scale = scale;
    this.apply();
  }

  /** Frees an adapter (once no snapshot holds it); unloading the active one leaves the base model. */
  unloadAdapter(name: string): void {
    this.checkOpen();
    this.unload(name);
  }

  /**
   * Fixes the adapter and scale a run uses: the active adapter at its scale, or `sel`'s adapter
   * and scale for this run only (the manager's state is not changed). Release it when the run ends.
   */
  snapshot(sel: AdapterSelection = {}): AdapterSnapshot {
    this.checkOpen();
    const a = sel.name !== undefined ? this.get(sel.name) : this.activeName === null ? undefined : this.adapters.get(this.activeName);
    const scale = sel.scale ?? a?.scale ?? 1;
    checkScale(scale, a?.name ?? '(none)');
    const deltas = [...this.modules].map(([path, lin]) => [lin, deltaOf(a, path, scale)] as const);
    if (a) a.holders++;
    const release = () => {
      if (!a) return;
      a.holders--;
      if (a.unloaded && a.holders === 0) for (const t of a.owned) t.dispose();
    };
    return new AdapterSnapshot(a?.name ?? null, a ? scale : 1, a?.weightsHash ?? '', this.adapters.size > 0, deltas, release);
  }

  /** Unloads everything: the model is the base model again, and nothing can be loaded after. */
  dispose(): void {
    for (const name of [...this.adapters.keys()]) this.unload(name);
    this.disposed = true;
  }

  private checkOpen(): void {
    this.opts.checkAlive?.();
    if (this.disposed) throw new AdapterError('the adapter manager was disposed');
  }

  private unload(name: string): void {
    const a = this.get(name);
    this.adapters.delete(name);
    if (this.activeName === name) this.activeName = null;
    this.apply();
    a.unloaded = true;
    if (a.holders === 0) for (const t of a.owned) t.dispose();
  }

  private get(name: string): Adapter {
    const a = this.adapters.get(name);
    if (!a) throw new AdapterError(`no adapter named '${name}' is loaded (loaded: ${[...this.adapters.keys()].join(', ') || 'none'})`);
    return a;
  }

  private apply(): void {
    const a = this.activeName === null ? undefined : this.adapters.get(this.activeName);
    for (const [path, lin] of this.modules) lin.delta = deltaOf(a, path, a?.scale ?? 1);
  }
}

/** Scale 0 detaches the branch entirely so the plain layer runs (bit-exact base output). */
function deltaOf(a: Adapter | undefined, path: string, scale: number): LinearDelta | null {
  const branch = a && scale !== 0 ? a.branches.get(path) : undefined;
  return branch ? branch(scale) : null;
}

function checkScale(scale: number, name: string): void {
  if (typeof scale !== 'number' || !(scale >= 0 && scale <= 1))
    throw new AdapterError(`scale of adapter '${name}' must be a number in [0, 1], got ${String(scale)}`);
}

/**
 * The pipeline's entry point: `loraPath` / `loraScale` request options become one active adapter
 * named 'default' (nothing is loaded without a path). Returns the manager so the caller can unload.
 */
export function applyLoraOptions(
  model: AdaptableModel,
  opts: { loraPath?: string | null; loraScale?: number },
  managerOpts: AdapterManagerOptions = {},
): AdapterManager {
  const mgr = new AdapterManager(model, managerOpts);
  if (opts.loraPath) mgr.loadLora(opts.loraPath, { name: 'default', scale: opts.loraScale ?? 1 });
  return mgr;
}
