// LoRA / LoKr adapters on the tiny DiT decoder (UPSTREAM.md: LoRA). Adapter fixtures are written here in
// the PEFT layout (adapter_config.json + adapter_model.safetensors) and the LyCORIS LoKr layout
// with the io safetensors writer; expected values come from plain float64 JS math (a LoRA delta
// x·(B·A)ᵀ, an explicit Kronecker product) or from a base checkpoint whose weights were merged
// W + s·(alpha/r)·B·A in JS.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { flush, memoryStats, Tensor, tidy } from '../src/runtime/index.js';
import { SafetensorsFile, writeSafetensors, type RawTensor } from '../src/io/safetensors.js';
import { openAceStepCheckpoint } from '../src/models/acestep-config.js';
import { AceStepDiT } from '../src/models/dit.js';
import { Weights, type WeightSource } from '../src/models/layers.js';
import { AdapterError, AdapterManager, applyLoraOptions } from '../src/models/lora.js';
import { settleMemory } from './support/memory.js';

const golden = join(import.meta.dirname, 'fixtures', 'golden');
const ckptDir = join(golden, 'checkpoints', 'acestep-v15-turbo-tiny');
const tmp = mkdtempSync(join(tmpdir(), 'acestep-lora-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Arr {
  shape: number[];
  data: Float32Array;
  /** Store as BF16 (the values must already be bf16-representable, see `toBf16Values`). */
  bf16?: boolean;
}

/** The upper 16 bits of each f32: exact for values produced by `toBf16Values`. */
function bf16Bytes(data: Float32Array): Buffer {
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  return Buffer.from(Uint16Array.from(bits, (b) => b >>> 16).buffer);
}

/** Rounds to the nearest bf16 value (ties to even), kept as f32. */
function toBf16Values(a: Arr): Arr {
  const bits = new Uint32Array(Float32Array.from(a.data).buffer);
  for (let i = 0; i < bits.length; i++) bits[i] = ((bits[i] + 0x7fff + ((bits[i] >>> 16) & 1)) >>> 16) << 16;
  return { shape: a.shape, data: new Float32Array(bits.buffer), bf16: true };
}

/** Writes F32 / BF16 arrays through the io writer. */
function writeArrays(path: string, tensors: Record<string, Arr>, metadata?: Record<string, string>): void {
  const raw = (t: Arr): RawTensor =>
    t.bf16 ? { dtype: 'BF16', shape: t.shape, data: bf16Bytes(t.data) } : { dtype: 'F32', shape: t.shape, data: t.data };
  writeSafetensors(path, Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, raw(t)])), metadata);
}

/** Deterministic values in [-amp, amp]. */
function wave(shape: number[], k: number, amp = 1): Arr {
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float32Array.from({ length: n }, (_, i) => Math.sin(i * k + 0.3 + k * 7) * amp) };
}

type LoraTensors = Record<string, { A: Arr; B: Arr }>;

function writePeft(name: string, mods: LoraTensors, cfg: Record<string, unknown>): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'adapter_config.json'),
    JSON.stringify({ peft_type: 'LORA', target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'], ...cfg }),
  );
  const t: Record<string, Arr> = {};
  for (const [m, { A, B }] of Object.entries(mods)) {
    t[`base_model.model.${m}.lora_A.weight`] = A;
    t[`base_model.model.${m}.lora_B.weight`] = B;
  }
  writeArrays(join(dir, 'adapter_model.safetensors'), t);
  return dir;
}

/** A rank-r adapter on every q/k/v/o projection (self and cross) of the 4 tiny layers. */
function attnLora(r: number, seed: number): LoraTensors {
  const mods: LoraTensors = {};
  let k = seed;
  for (let i = 0; i < 4; i++) {
    for (const blk of ['self_attn', 'cross_attn']) {
      for (const [p, out] of [
        ['q', 64],
        ['k', 32],
        ['v', 32],
        ['o', 64],
      ] as const) {
        mods[`layers.${i}.${blk}.${p}_proj`] = { A: wave([r, 64], (k += 0.37), 0.2), B: wave([out, r], (k += 0.53), 0.2) };
      }
    }
  }
  return mods;
}

/** Row-major float64 product of a [n, k] and b [k, m]. */
function mm(a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, m: number): Float64Array {
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[i * k + t] * b[t * m + j];
      c[i * m + j] = s;
    }
  return c;
}

/** x [M, in] · W [out, in]ᵀ in float64. */
function applyW(x: ArrayLike<number>, w: ArrayLike<number>, m: number, inF: number, outF: number): Float64Array {
  const y = new Float64Array(m * outF);
  for (let i = 0; i < m; i++)
    for (let o = 0; o < outF; o++) {
      let s = 0;
      for (let t = 0; t < inF; t++) s += x[i * inF + t] * w[o * inF + t];
      y[i * outF + o] = s;
    }
  return y;
}

function kron(a: ArrayLike<number>, [ar, ac]: number[], b: ArrayLike<number>, [br, bc]: number[]): Float64Array {
  const out = new Float64Array(ar * br * ac * bc);
  const cols = ac * bc;
  for (let i = 0; i < ar; i++)
    for (let j = 0; j < ac; j++)
      for (let p = 0; p < br; p++)
        for (let q = 0; q < bc; q++) {
          out[(i * br + p) * cols + j * bc + q] = a[i * ac + j] * b[p * bc + q];
        }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const inputs = SafetensorsFile.open(join(golden, 'cases', 'dit_decoder_forward', 'inputs.safetensors'));
const timestep = tidy(() => Array.from(inputs.get('timestep').toFloat32Sync()));

/** One velocity evaluation on the golden inputs; the condition is prepared fresh (cross K/V go through adapters). */
function velocity(dit: AceStepDiT): Float32Array {
  return tidy(() => {
    const condition = dit.prepareCondition(inputs.get('encoder_hidden_states'));
    const v = dit.forward({ hidden: inputs.get('hidden_states'), context: inputs.get('context_latents'), timestep, condition });
    const out = v.toFloat32Sync();
    condition.dispose();
    return out;
  });
}

function loadDit(override?: Map<string, Float32Array>): AceStepDiT {
  const { ckpt, config } = openAceStepCheckpoint(ckptDir);
  const src: WeightSource = override
    ? {
        has: (n) => ckpt.has(n),
        get: (n) => {
          const t = ckpt.get(n);
          const o = override.get(n);
          if (!o) return t;
          const shape = t.shape;
          t.dispose();
          return Tensor.fromArray(o, shape);
        },
      }
    : ckpt;
  const dit = new AceStepDiT(new Weights(src, '', ckptDir), config);
  ckpt.dispose();
  return dit;
}

const base = loadDit();
const baseOut = velocity(base);

describe('LoRA on the DiT decoder', () => {
  it('adds exactly s·(alpha/r)·x·(B·A)ᵀ to one Linear (vs float64 JS; BF16 adapter tensors)', () => {
    const A = toBf16Values(wave([3, 64], 0.71, 0.5));
    const B = toBf16Values(wave([64, 3], 0.29, 0.5));
    const dir = writePeft('single', { 'layers.1.self_attn.o_proj': { A, B } }, { r: 3, lora_alpha: 6 });
    const mgr = new AdapterManager(base);
    const info = mgr.loadLora(dir, { scale: 0.7 });
    expect(info).toMatchObject({ name: 'single', kind: 'lora', scale: 0.7, modules: ['layers.1.self_attn.o_proj'] });
    const lin = base.linearModules().get('layers.1.self_attn.o_proj')!;
    const x = wave([2, 5, 64], 0.13);
    const got = tidy(() => lin.forward(Tensor.fromArray(x.data, x.shape)).toFloat32Sync());
    mgr.setActiveAdapter(null);
    const plain = tidy(() => lin.forward(Tensor.fromArray(x.data, x.shape)).toFloat32Sync());
    const ba = mm(B.data, A.data, 64, 3, 64); // [out, in]
    const delta = applyW(x.data, ba, 10, 64, 64).map((v) => v * 0.7 * (6 / 3));
    const gotDelta = got.map((v, i) => v - plain[i]);
    // f32 GEMMs over K <= 64 with |terms| < 1 and a subtraction of O(1) outputs: ~1e-6 rounding.
    expect(maxAbsDiff(gotDelta, delta)).toBeLessThan(5e-6);
    expect(Math.max(...delta.map(Math.abs))).toBeGreaterThan(0.1);
    mgr.dispose();
  });

  it('setAdapterScale rescales the branch: the delta follows s·(alpha/r)·x·(B·A)ᵀ for every new scale', () => {
    const A = wave([2, 64], 0.61, 0.5);
    const B = wave([64, 2], 0.47, 0.5);
    const dir = writePeft('rescale', { 'layers.2.self_attn.o_proj': { A, B } }, { r: 2, lora_alpha: 4 });
    const mgr = new AdapterManager(base);
    mgr.loadLora(dir);
    const lin = base.linearModules().get('layers.2.self_attn.o_proj')!;
    const x = wave([3, 64], 0.19);
    const run = () => tidy(() => lin.forward(Tensor.fromArray(x.data, x.shape)).toFloat32Sync());
    mgr.setActiveAdapter(null);
    const plain = run();
    mgr.setActiveAdapter('rescale');
    const unit = applyW(x.data, mm(B.data, A.data, 64, 2, 64), 3, 64, 64).map((v) => v * (4 / 2));
    for (const s of [0.25, 0.9, 1, 0.5]) {
      mgr.setAdapterScale('rescale', s);
      expect(mgr.list()[0].scale).toBe(s);
      const got = run().map((v, i) => v - plain[i]);
      // Same f32 rounding budget as the single-Linear check above.
      expect(
        maxAbsDiff(
          got,
          unit.map((v) => v * s),
        ),
      ).toBeLessThan(5e-6);
    }
    mgr.dispose();
  });

  it('a snapshot keeps the adapter and scale it was taken with while the manager changes, and frees an unloaded adapter on release', async () => {
    const dirA = writePeft('snap-a', attnLora(4, 0.3), { r: 4, lora_alpha: 8 });
    const mgr = new AdapterManager(base);
    mgr.loadLora(dirA, { name: 'a', scale: 0.6 });
    const at06 = velocity(base);
    mgr.setAdapterScale('a', 1);
    const at1 = velocity(base);
    mgr.setAdapterScale('a', 0.6);
    expect(maxAbsDiff(at06, at1)).toBeGreaterThan(1e-3);

    const snap = mgr.snapshot();
    expect(snap).toMatchObject({ name: 'a', scale: 0.6, loaded: true });
    const perCall = mgr.snapshot({ name: 'a', scale: 1 });
    expect(perCall).toMatchObject({ name: 'a', scale: 1 });
    mgr.setAdapterScale('a', 0.1);
    expect(snap.run(() => velocity(base))).toEqual(at06);
    expect(perCall.run(() => velocity(base))).toEqual(at1);
    // run() puts the adapters back when fn returns, so an async fn would run without them.
    expect(() => snap.run(() => Promise.resolve(1))).toThrow(/synchronous/);
    mgr.setActiveAdapter(null);
    expect(snap.run(() => velocity(base))).toEqual(at06);
    // Outside run() the model shows the manager's live state again.
    expect(velocity(base)).toEqual(baseOut);
    const none = mgr.snapshot();
    expect(none).toMatchObject({ name: null, scale: 1, weightsHash: '', loaded: true });
    mgr.setActiveAdapter('a');
    expect(none.run(() => velocity(base))).toEqual(baseOut);
    none.release();
    perCall.release();

    await settleMemory();
    const before = memoryStats().cpu.inUse;
    mgr.unloadAdapter('a');
    expect(mgr.list()).toEqual([]);
    expect(velocity(base)).toEqual(baseOut);
    // Still held by the snapshot: the branch tensors stay alive and give the same output.
    expect(snap.run(() => velocity(base))).toEqual(at06);
    await flush();
    expect(memoryStats().cpu.inUse).toBe(before);
    snap.release();
    await flush();
    expect(memoryStats().cpu.inUse).toBeLessThan(before);
    expect(() => mgr.snapshot({ name: 'a' })).toThrow(AdapterError);
    expect(() => snap.run(() => velocity(base))).toThrow(/released/);
    mgr.dispose();
  });

  it('scales are limited to [0, 1] as upstream; a disposed manager refuses to load and allocates nothing', async () => {
    const dir = writePeft('range', attnLora(2, 0.7), { r: 2, lora_alpha: 2 });
    const mgr = new AdapterManager(base);
    expect(() => mgr.loadLora(dir, { scale: 1.5 })).toThrow(/scale of adapter 'range' must be a number in \[0, 1\], got 1.5/);
    mgr.loadLora(dir);
    expect(() => mgr.setAdapterScale('range', -0.1)).toThrow(AdapterError);
    expect(() => mgr.snapshot({ name: 'range', scale: 2 })).toThrow(AdapterError);
    mgr.dispose();
    await settleMemory();
    const before = memoryStats().cpu.inUse;
    expect(() => mgr.loadLora(dir, { name: 'again' })).toThrow(/disposed/);
    expect(() => mgr.setActiveAdapter(null)).toThrow(/disposed/);
    expect(() => mgr.snapshot()).toThrow(/disposed/);
    await flush();
    expect(memoryStats().cpu.inUse).toBe(before);
    expect(velocity(base)).toEqual(baseOut);
  });

  it('tiny DiT forward with a LoRA equals the forward of JS-merged weights; scale 0 / none / unload restore the base bit-exactly', () => {
    const mods = attnLora(4, 0.1);
    const dir = writePeft('attn', mods, { r: 4, lora_alpha: 8 });
    const s = 0.8;
    const mgr = new AdapterManager(base);
    mgr.loadLora(dir, { name: 'attn', scale: s });
    const adapted = velocity(base);

    const { ckpt } = openAceStepCheckpoint(ckptDir);
    const merged = new Map<string, Float32Array>();
    for (const [m, { A, B }] of Object.entries(mods)) {
      const key = `decoder.${m}.weight`;
      const w = tidy(() => ckpt.get(key).toFloat32Sync());
      const [out, r] = B.shape;
      const ba = mm(B.data, A.data, out, r, 64);
      merged.set(
        key,
        Float32Array.from(w, (v, i) => v + s * (8 / 4) * ba[i]),
      );
    }
    ckpt.dispose();
    const mergedDit = loadDit(merged);
    const mergedOut = velocity(mergedDit);
    mergedDit.dispose();

    // The adapter must matter, and agree with the merged weights to f32 rounding: the only
    // difference is rounding W' to f32 vs adding a separate f32 branch (observed ~4e-7 over the
    // 4 layers; 1e-5 is 10x under the fp32 golden tolerance of 1e-4).
    const change = maxAbsDiff(adapted, baseOut);
    const err = maxAbsDiff(adapted, mergedOut);
    console.log(`LoRA forward: max |adapted - base| = ${change.toExponential(3)}, max |adapted - merged| = ${err.toExponential(3)}`);
    expect(change).toBeGreaterThan(1e-2);
    expect(err).toBeLessThan(1e-5);

    mgr.setAdapterScale('attn', 0);
    expect(velocity(base)).toEqual(baseOut);
    mgr.setAdapterScale('attn', s);
    expect(velocity(base)).toEqual(adapted);
    mgr.setActiveAdapter(null);
    expect(velocity(base)).toEqual(baseOut);
    mgr.setActiveAdapter('attn');
    mgr.unloadAdapter('attn');
    expect(mgr.active).toBeNull();
    expect(mgr.list()).toEqual([]);
    expect(velocity(base)).toEqual(baseOut);
  });

  it('switches between two loaded adapters, each reproducing its own output exactly', () => {
    const dirA = writePeft('two-a', attnLora(4, 0.2), { r: 4, lora_alpha: 4 });
    const dirB = writePeft('two-b', attnLora(2, 0.9), { r: 2, lora_alpha: 4, use_rslora: true });
    const solo = new AdapterManager(base);
    solo.loadLora(dirB, { name: 'b' });
    const onlyB = velocity(base);
    solo.dispose();

    const mgr = new AdapterManager(base);
    mgr.loadLora(dirA, { name: 'a' });
    const outA = velocity(base);
    mgr.loadLora(dirB, { name: 'b', activate: false });
    expect(mgr.active).toBe('a');
    expect(velocity(base)).toEqual(outA);
    mgr.setActiveAdapter('b');
    expect(velocity(base)).toEqual(onlyB);
    expect(maxAbsDiff(onlyB, outA)).toBeGreaterThan(1e-2);
    mgr.setActiveAdapter('a');
    expect(velocity(base)).toEqual(outA);
    mgr.unloadAdapter('b');
    expect(velocity(base)).toEqual(outA);
    mgr.dispose();
    expect(velocity(base)).toEqual(baseOut);
  });

  it('applyLoraOptions loads loraPath as the active adapter at loraScale', () => {
    const dir = writePeft('opts', attnLora(4, 0.4), { r: 4, lora_alpha: 8 });
    const ref = new AdapterManager(base);
    ref.loadLora(dir, { scale: 0.5 });
    const expected = velocity(base);
    ref.dispose();
    const mgr = applyLoraOptions(base, { loraPath: dir, loraScale: 0.5 });
    expect(mgr.list().map((a) => [a.name, a.scale])).toEqual([['default', 0.5]]);
    expect(velocity(base)).toEqual(expected);
    mgr.dispose();
    expect(applyLoraOptions(base, { loraPath: null }).list()).toEqual([]);
  });
});

describe('LoKr on the DiT decoder', () => {
  const path = 'layers.0.mlp.gate_proj'; // [128, 64] = kron([8, 4], [16, 16])
  const flat = `lycoris_${path.replace(/\./g, '_')}`;

  function lokrDelta(tensors: Record<string, Arr>, file: string, meta?: Record<string, string>): { got: Float32Array; x: Arr } {
    writeArrays(file, tensors, meta);
    const mgr = new AdapterManager(base);
    const info = mgr.loadLora(file, { name: 'k', scale: 0.6 });
    expect(info.kind).toBe('lokr');
    expect(info.modules).toEqual([path]);
    const lin = base.linearModules().get(path)!;
    const x = wave([3, 64], 0.17);
    const run = () => tidy(() => lin.forward(Tensor.fromArray(x.data, x.shape)).toFloat32Sync());
    const adapted = run();
    mgr.dispose();
    const plain = run();
    return { got: adapted.map((v, i) => v - plain[i]), x };
  }

  it('full factors: delta = 0.6·kron(w1, w2)·x (alpha ignored, as LyCORIS does)', () => {
    const w1 = wave([8, 4], 0.41, 0.5);
    const w2 = wave([16, 16], 0.23, 0.3);
    const dir = join(tmp, 'lokr-full');
    mkdirSync(dir, { recursive: true });
    const { got, x } = lokrDelta(
      { [`${flat}.lokr_w1`]: w1, [`${flat}.lokr_w2`]: w2, [`${flat}.alpha`]: { shape: [], data: Float32Array.of(64) } },
      join(dir, 'lokr_weights.safetensors'),
    );
    const k = kron(w1.data, w1.shape, w2.data, w2.shape);
    const want = applyW(x.data, k, 3, 64, 128).map((v) => v * 0.6);
    // f32 GEMMs over K = 16 and 4 terms: rounding ~1e-6.
    expect(maxAbsDiff(got, want)).toBeLessThan(5e-6);
    expect(Math.max(...want.map(Math.abs))).toBeGreaterThan(0.1);
  });

  it('low-rank factors in a file marked by lokr_config metadata: delta = 0.6·(alpha/rank)·kron(w1_a·w1_b, w2_a·w2_b)·x', () => {
    const w1a = wave([8, 2], 0.31, 0.7);
    const w1b = wave([2, 4], 0.57, 0.7);
    const w2a = wave([16, 2], 0.19, 0.5);
    const w2b = wave([2, 16], 0.83, 0.5);
    const { got, x } = lokrDelta(
      {
        [`${flat}.lokr_w1_a`]: w1a,
        [`${flat}.lokr_w1_b`]: w1b,
        [`${flat}.lokr_w2_a`]: w2a,
        [`${flat}.lokr_w2_b`]: w2b,
        [`${flat}.alpha`]: { shape: [], data: Float32Array.of(3) },
      },
      join(tmp, 'my-lokr.safetensors'),
      { lokr_config: JSON.stringify({ linear_dim: 2, linear_alpha: 3, factor: -1 }) },
    );
    const k = kron(mm(w1a.data, w1b.data, 8, 2, 4), [8, 4], mm(w2a.data, w2b.data, 16, 2, 16), [16, 16]);
    const want = applyW(x.data, k, 3, 64, 128).map((v) => v * 0.6 * (3 / 2));
    expect(maxAbsDiff(got, want)).toBeLessThan(5e-6);
    expect(Math.max(...want.map(Math.abs))).toBeGreaterThan(0.1);
  });
});

describe('adapter errors', () => {
  const A = wave([4, 64], 0.3, 0.1);
  const B = wave([64, 4], 0.4, 0.1);

  function expectAdapterError(fn: () => unknown, re: RegExp, file?: string, tensor?: string): void {
    let err: unknown;
    try {
      fn();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AdapterError);
    const e = err as AdapterError;
    expect(e.message).toMatch(re);
    if (file) expect(e.message).toContain(file);
    if (tensor) expect(e.tensor).toBe(tensor);
  }

  it('names the file and tensor for bad configs, keys and shapes; a failed load leaves the model as it was', () => {
    const mgr = new AdapterManager(base);
    const noCfg = join(tmp, 'no-cfg');
    mkdirSync(noCfg);
    writeArrays(join(noCfg, 'adapter_model.safetensors'), { 'base_model.model.layers.0.self_attn.q_proj.lora_A.weight': A });
    expectAdapterError(() => mgr.loadLora(noCfg), /missing adapter_config\.json/, noCfg);
    expectAdapterError(
      () => mgr.loadLora(join(noCfg, 'adapter_model.safetensors')),
      /missing adapter_config\.json/,
      'adapter_model.safetensors',
    );

    const ia3 = writePeft('ia3', { 'layers.0.self_attn.q_proj': { A, B } }, { peft_type: 'IA3', r: 4, lora_alpha: 4 });
    expectAdapterError(() => mgr.loadLora(ia3), /unknown peft_type "IA3"/, 'adapter_config.json');

    const q = 'base_model.model.layers.0.self_attn.k_proj';
    const shape = writePeft('shape', { 'layers.0.self_attn.k_proj': { A, B } }, { r: 4, lora_alpha: 4 });
    expectAdapterError(
      () => mgr.loadLora(shape),
      /shape mismatch: lora_B \[64,4\] writes 64 features, 'layers\.0\.self_attn\.k_proj' gives 32/,
      'adapter_model.safetensors',
      `${q}.lora_B.weight`,
    );
    const inShape = writePeft('in-shape', { 'layers.0.self_attn.q_proj': { A: wave([4, 32], 0.3), B } }, { r: 4, lora_alpha: 4 });
    expectAdapterError(
      () => mgr.loadLora(inShape),
      /shape mismatch: lora_A \[4,32\]/,
      undefined,
      'base_model.model.layers.0.self_attn.q_proj.lora_A.weight',
    );

    const nowhere = writePeft('nowhere', { 'layers.9.self_attn.q_proj': { A, B } }, { r: 4, lora_alpha: 4 });
    expectAdapterError(
      () => mgr.loadLora(nowhere),
      /'layers\.9\.self_attn\.q_proj' matches no Linear/,
      undefined,
      'base_model.model.layers.9.self_attn.q_proj.lora_A.weight',
    );
    const untargeted = writePeft('untargeted', { 'layers.0.mlp.down_proj': { A: wave([4, 128], 0.2), B } }, { r: 4, lora_alpha: 4 });
    expectAdapterError(() => mgr.loadLora(untargeted), /not in the adapter's target_modules/);

    const rank = writePeft('rank', { 'layers.0.self_attn.q_proj': { A, B: wave([64, 3], 0.1) } }, { r: 4, lora_alpha: 4 });
    expectAdapterError(
      () => mgr.loadLora(rank),
      /rank mismatch: lora_A \[4,64\] has rank 4, lora_B \[64,3\] has rank 3/,
      undefined,
      'base_model.model.layers.0.self_attn.q_proj.lora_B.weight',
    );
    const cfgRank = writePeft('cfg-rank', { 'layers.0.self_attn.q_proj': { A, B } }, { r: 8, lora_alpha: 4 });
    expectAdapterError(() => mgr.loadLora(cfgRank), /adapter_config\.json says r=8/);

    // The second module is bad: the first one's tensors are freed and nothing is attached.
    const partial = writePeft(
      'partial',
      { 'layers.0.self_attn.q_proj': { A, B }, 'layers.1.self_attn.k_proj': { A, B } },
      { r: 4, lora_alpha: 4 },
    );
    expectAdapterError(() => mgr.loadLora(partial), /shape mismatch/);
    expect(mgr.list()).toEqual([]);
    expect(velocity(base)).toEqual(baseOut);

    const lokrBad = join(tmp, 'bad-lokr.safetensors');
    writeArrays(
      lokrBad,
      { 'lycoris_layers_0_self_attn_q_proj.lokr_w1': wave([8, 8], 0.1), 'lycoris_layers_0_self_attn_q_proj.lokr_w2': wave([4, 8], 0.2) },
      { lokr_config: '{}' },
    );
    expectAdapterError(
      () => mgr.loadLora(lokrBad),
      /kron\(w1 \[8,8\], w2 \[4,8\]\) is \[32,64\], 'layers\.0\.self_attn\.q_proj' is \[64,64\]/,
      'bad-lokr.safetensors',
      'lycoris_layers_0_self_attn_q_proj.lokr_w1',
    );

    const good = writePeft('good', { 'layers.0.self_attn.q_proj': { A, B } }, { r: 4, lora_alpha: 4 });
    mgr.loadLora(good);
    expectAdapterError(() => mgr.loadLora(good), /already loaded/);
    expectAdapterError(() => mgr.setActiveAdapter('nope'), /no adapter named 'nope' is loaded \(loaded: good\)/);
    expectAdapterError(() => mgr.setAdapterScale('good', Number.NaN), /must be a number in \[0, 1\], got NaN/);
    expectAdapterError(() => mgr.loadLora(join(tmp, 'absent')), /does not exist/);
    mgr.dispose();
    expect(velocity(base)).toEqual(baseOut);
  });
});
