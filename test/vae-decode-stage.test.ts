// The pipeline's VAE decode stage decodes tile by tile: its output equals the model's decodeTiled
// with the same tiling bit for bit, each progress event follows a finished tile, and an abort
// between tiles stops the decode there (no later tile runs, nothing is left allocated).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoints } from '../scripts/make-tiny-checkpoints.js';
import { AbortedError, AceStep, memoryStats, type ProgressEvent } from '../src/index.js';
import { Tensor } from '../src/runtime/index.js';
import { DEFAULT_CONFIG, DEFAULT_PARAMS } from '../src/pipeline/params.js';
import { decodeLatents } from '../src/pipeline/stages/decode.js';
import type { RunContext } from '../src/pipeline/stages/context.js';
import type { DecodeTile, OobleckVae } from '../src/models/vae.js';
import { settleMemory } from './support/memory.js';

let dir: string;
let engine: AceStep;
const TILING = { chunkSize: 24, overlap: 4 };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'acestep-vae-stage-'));
  makeTinyCheckpoints(join(dir, 'ckpt'));
  engine = await AceStep.load({ checkpoints: join(dir, 'ckpt'), device: 'cpu', lmModel: null });
});

afterAll(() => {
  engine?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** A run context on the tiny engine whose VAE tiles with TILING (the CPU budget would give one tile). */
function context(opts: RunContext['opts'], decoded: DecodeTile[]): RunContext {
  const vae: OobleckVae = Object.create(engine.vae, {
    decodeTiles: { value: (z: Tensor) => engine.vae.decodeTiles(z, TILING) },
    decodeTile: { value: (z: Tensor, out: Tensor, t: DecodeTile) => (decoded.push(t), engine.vae.decodeTile(z, out, t)) },
  });
  const eng = Object.create(engine, { vae: { value: vae } }) as AceStep;
  return {
    engine: eng,
    p: { ...DEFAULT_PARAMS },
    c: { ...DEFAULT_CONFIG },
    seeds: [1],
    opts,
    timeCosts: {},
    silence: undefined!,
    adapters: undefined!,
    warnings: [],
  };
}

function latents(T: number): { lat: Float32Array; shape: [number, number, number] } {
  const C = engine.vae.latentChannels;
  const lat = Float32Array.from({ length: T * C }, (_, i) => Math.sin(i * 0.37) * 0.8);
  return { lat, shape: [1, T, C] };
}

describe('VAE decode stage', () => {
  it('decodes tile by tile exactly as decodeTiled, one progress event per finished tile', async () => {
    const { lat, shape } = latents(100);
    const z = Tensor.fromArray(lat, shape).transpose(1, 2).contiguous();
    const expected = engine.vae.decodeTiled(z, TILING);
    const want = (await expected.toFloat32()).slice();
    expected.dispose();
    const tiles = engine.vae.decodeTiles(z, TILING).length;
    z.dispose();
    expect(tiles).toBeGreaterThan(3);
    const events: ProgressEvent[] = [];
    const decoded: DecodeTile[] = [];
    const wav = await decodeLatents(context({ onProgress: (e) => events.push(e) }, decoded), lat.slice(), shape);
    expect(wav).toEqual(want);
    expect(events).toEqual(Array.from({ length: tiles }, (_, i) => ({ stage: 'vae', tile: i + 1, total: tiles })));
    expect(decoded).toHaveLength(tiles);
  });

  it('an abort after the first tile stops the decode before the second and frees its buffers', async () => {
    const { lat, shape } = latents(100);
    await settleMemory();
    const before = memoryStats().cpu.inUse;
    const ac = new AbortController();
    const decoded: DecodeTile[] = [];
    const run = decodeLatents(
      context({ signal: ac.signal, onProgress: (e) => e.stage === 'vae' && e.tile === 1 && ac.abort() }, decoded),
      lat,
      shape,
    );
    await expect(run).rejects.toBeInstanceOf(AbortedError);
    expect(decoded).toHaveLength(1);
    await settleMemory();
    expect(memoryStats().cpu.inUse).toBe(before);
  });
});
