// Tensor runtime behaviour: views, async reads off the main thread, scopes, typed errors and
// surviving out-of-memory.
import { describe, expect, it } from 'vitest';
import {
  broadcastTo,
  concat,
  flush,
  memoryStats,
  OutOfMemoryError,
  pad,
  repeat,
  releaseCachedMemory,
  setMemoryLimit,
  ShapeError,
  Tensor,
  tidy,
} from '../src/runtime/index.js';

describe('tensor runtime', () => {
  it('round-trips data and makes zero-copy views', async () => {
    const t = Tensor.fromArray(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    expect(Array.from(await t.data())).toEqual([1, 2, 3, 4, 5, 6]);
    const tt = t.transpose(0, 1);
    expect(tt.isContiguous).toBe(false);
    expect(Array.from(tt.dataSync())).toEqual([1, 4, 2, 5, 3, 6]);
    expect(Array.from(t.slice(1, 1, 3).dataSync())).toEqual([2, 3, 5, 6]);
    expect(Array.from(t.select(0, 1).dataSync())).toEqual([4, 5, 6]);
    expect(Array.from(t.slice(1, 0, 3, 2).dataSync())).toEqual([1, 3, 4, 6]);
    t.dispose();
    // the view keeps its own reference to the buffer
    expect(Array.from(tt.dataSync())).toEqual([1, 4, 2, 5, 3, 6]);
  });

  it('casts through bf16 with round-to-nearest-even', () => {
    const x = Tensor.fromArray(new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8, -2.5, 65504]), [4]);
    expect(Array.from(x.to('bf16').toFloat32Sync())).toEqual([1, 1 + 2 ** -6, -2.5, 65536]);
  });

  it('broadcastTo and repeat materialise copies', () => {
    const row = Tensor.fromArray([1, 2, 3], [1, 3]);
    expect(Array.from(broadcastTo(row, [2, 3]).dataSync())).toEqual([1, 2, 3, 1, 2, 3]);
    expect(Array.from(repeat(row, 1, 2).dataSync())).toEqual([1, 2, 3, 1, 2, 3]);
    expect(() => broadcastTo(row, [2, 4])).toThrow(ShapeError);
  });

  it('concat and pad', () => {
    const a = Tensor.fromArray([1, 2], [1, 2]);
    const b = Tensor.fromArray([3, 4, 5, 6], [2, 2]);
    expect(Array.from(concat([a, b], 0).dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(pad(a, 1, 1, 2, 9).dataSync())).toEqual([9, 1, 2, 9, 9]);
    expect(() => concat([a, Tensor.zeros([2, 3])], 0)).toThrow(ShapeError);
  });

  it('tidy disposes intermediates but keeps results', () => {
    let inner: Tensor | undefined;
    const kept = tidy(() => {
      inner = Tensor.zeros([4]);
      return Tensor.full([2], 3);
    });
    expect(inner!.disposed).toBe(true);
    expect(kept.disposed).toBe(false);
    expect(Array.from(kept.dataSync())).toEqual([3, 3]);
  });

  it('reports bad shapes with typed errors', () => {
    expect(() => Tensor.fromArray([1, 2, 3], [2, 2])).toThrow(ShapeError);
    expect(() => Tensor.zeros([2, 3]).reshape([4, 2])).toThrow(/cannot view/);
    const d = Tensor.zeros([2]);
    d.dispose();
    expect(() => d.dataSync()).toThrow(/disposed/);
  });

  it('survives out-of-memory with a typed error', async () => {
    setMemoryLimit('cpu', memoryStats().cpu.inUse + 64 * 1024 * 1024);
    try {
      const big = Tensor.zeros([512, 1024, 1024]); // 2 GiB, over the limit
      await expect(flush()).rejects.toBeInstanceOf(OutOfMemoryError);
      big.dispose();
      expect(() => Tensor.fromArray(new Float32Array(32 * 1024 * 1024), [32 * 1024 * 1024])).toThrow(OutOfMemoryError);
    } finally {
      setMemoryLimit('cpu', 0);
    }
    const ok = Tensor.full([3], 2);
    expect(Array.from(await ok.data())).toEqual([2, 2, 2]);
  });

  it('reuses freed CPU blocks and releases the cache on request', async () => {
    const a = Tensor.full([1024, 1024], 1); // 4 MiB: pooled size class
    await flush();
    const inUse = memoryStats().cpu.inUse;
    a.dispose();
    await flush();
    // Exactly a's 4 MiB, give or take small tensors of earlier tests that the GC finalizes meanwhile.
    const freed = inUse - memoryStats().cpu.inUse;
    expect(freed).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    expect(freed).toBeLessThan(4 * 1024 * 1024 + 64 * 1024);
    expect(memoryStats().cpuCached).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    const b = Tensor.full([1024, 1024], 2);
    expect(Array.from((await b.data()).slice(0, 2))).toEqual([2, 2]);
    b.dispose();
    expect(releaseCachedMemory()).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    expect(memoryStats().cpuCached).toBe(0);
  });

  it('grows a smaller cached block of 4 MiB and more, and lends a larger one whole', async () => {
    const MiB = 1024 * 1024;
    await flush();
    releaseCachedMemory();
    const a = Tensor.full([2 * MiB], 1); // 8 MiB
    await flush();
    a.dispose();
    await flush();
    expect(memoryStats().cpuCached).toBe(8 * MiB);
    // No cached block fits 16 MiB: the 8 MiB one is grown (it leaves the cache) and holds the new values.
    const b = Tensor.full([4 * MiB], 2);
    await flush();
    expect(memoryStats().cpuCached).toBe(0);
    const bv = (await b.data()) as Float32Array;
    expect([bv[0], bv[2 * MiB], bv[4 * MiB - 1]]).toEqual([2, 2, 2]);
    b.dispose();
    await flush();
    expect(memoryStats().cpuCached).toBe(16 * MiB);
    // A 5 MiB request takes the 16 MiB block whole (its pages are touched already).
    const c = Tensor.full([1280 * 1024], 3);
    await flush();
    expect(memoryStats().cpuCached).toBe(0);
    c.dispose();
    await flush();
    expect(memoryStats().cpuCached).toBe(16 * MiB);
    expect(releaseCachedMemory()).toBe(16 * MiB);
  });
});
