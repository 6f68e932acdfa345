// Scoped lifetimes: `using` frees a tensor's native memory when its block ends (normally or by a
// throw), and DisposableStack rolls back a part-built object (reverse order, first error
// rethrown after every cleanup ran, move() hands ownership on). Counted with memoryStats, so a
// leak or a double free shows as a byte difference.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DisposableStack, flush, memoryStats, Tensor } from '../src/runtime/index.js';
import { CheckpointError } from '../src/io/errors.js';
import { openAceStepCheckpoint } from '../src/models/acestep-config.js';
import { AudioTokenizer } from '../src/models/audio-tokenizer.js';
import { ConditionEncoder } from '../src/models/condition-encoder.js';
import { AceStepDiT } from '../src/models/dit.js';
import { Weights } from '../src/models/layers.js';
import { settleMemory } from './support/memory.js';

/** CPU bytes in use once queued work (and the frees queued behind it) has run. */
async function inUse(): Promise<number> {
  await flush();
  return memoryStats().cpu.inUse;
}

describe('Tensor and using', () => {
  it('frees at block end and when the block throws', async () => {
    await settleMemory();
    const before = await inUse();
    {
      using t = Tensor.zeros([256, 256]);
      expect((await inUse()) - before).toBeGreaterThanOrEqual(256 * 256 * 4);
      expect(t.numel).toBe(256 * 256);
    }
    expect(await inUse()).toBe(before);
    expect(() => {
      using t = Tensor.zeros([128, 128]);
      throw new Error(`boom ${t.numel}`);
    }).toThrow('boom 16384');
    expect(await inUse()).toBe(before);
  });
});

describe('DisposableStack', () => {
  it('disposes in reverse order, skips null, and runs every cleanup before rethrowing the first error', () => {
    const log: string[] = [];
    const s = new DisposableStack();
    s.use({ dispose: () => log.push('a') });
    s.use(null);
    s.use({ [Symbol.dispose]: () => log.push('b') });
    s.defer(() => {
      log.push('c');
      throw new Error('first');
    });
    s.adopt(7, (v) => {
      log.push(`d${v}`);
      throw new Error('second');
    });
    expect(() => s.dispose()).toThrow('second');
    expect(log).toEqual(['d7', 'c', 'b', 'a']);
    expect(s.disposed).toBe(true);
    s.dispose(); // idempotent
    expect(log).toHaveLength(4);
    expect(() => s.use({ dispose() {} })).toThrow(ReferenceError);
  });

  it('rolls back a part-built object and hands ownership on with move()', async () => {
    await settleMemory();
    const before = await inUse();
    const build = (fail: boolean) => {
      using stack = new DisposableStack();
      const a = stack.use(Tensor.zeros([64, 64]));
      const b = stack.use(Tensor.zeros([64, 64]));
      if (fail) throw new Error('cannot build');
      const owned = stack.move();
      return { a, b, owned };
    };
    expect(() => build(true)).toThrow('cannot build');
    expect(await inUse()).toBe(before);
    const built = build(false);
    expect((await inUse()) - before).toBeGreaterThanOrEqual(2 * 64 * 64 * 4);
    built.owned.dispose();
    expect(await inUse()).toBe(before);
  });
});

describe('model constructor rollback', () => {
  const ckptDir = join(import.meta.dirname, 'fixtures', 'golden', 'checkpoints', 'acestep-v15-turbo-tiny');
  // Each model fails on its last tensor, after everything else was built (and converted to f32 or
  // re-laid out, i.e. allocated): the parts built so far must be freed.
  const cases = [
    { name: 'AceStepDiT', last: 'decoder.proj_out.1.bias', build: (w: Weights, c: never) => new AceStepDiT(w, c) },
    { name: 'ConditionEncoder', last: 'encoder.timbre_encoder.norm.weight', build: (w: Weights, c: never) => new ConditionEncoder(w, c) },
    { name: 'AudioTokenizer', last: 'detokenizer.proj_out.weight', build: (w: Weights, c: never) => new AudioTokenizer(w, c) },
  ];
  for (const { name, last, build } of cases) {
    it(`${name} frees its parts when a late tensor is missing`, async () => {
      using dir = openAceStepCheckpoint(ckptDir);
      const hidden = new Weights({ get: (n) => dir.weights.get(n), has: (n) => n !== last && dir.weights.has(n) }, '', 'test');
      await settleMemory();
      const before = await inUse();
      expect(() => build(hidden, dir.config as never)).toThrow(CheckpointError);
      expect(await inUse()).toBe(before);
      // The complete weights build and free cleanly.
      build(dir.weights, dir.config as never).dispose();
      expect(await inUse()).toBe(before);
    });
  }
});
