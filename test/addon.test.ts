// The addon boundary: the typed export list matches what the compiled module registers, every
// native failure reaches callers as a typed error (sync throws, rejected reads and queued kernel
// errors alike), and setCpuIsa reports the level each CPU kernel family runs at.
import { afterAll, describe, expect, it } from 'vitest';
import { KernelError, ShapeError, Tensor, tidy } from '../src/runtime/index.js';
import { ADDON_FUNCTIONS, native, rawAddon } from '../src/runtime/native.js';

afterAll(() => {
  for (const f of ['gemm', 'attention', 'pointwise'] as const) native.setCpuIsa(f, 'auto');
});

describe('addon interface', () => {
  it('lists exactly the functions the module exports', () => {
    const exported = Object.keys(rawAddon).filter((k) => typeof rawAddon[k] === 'function' && k !== 'BufferHandle');
    expect([...exported].sort()).toEqual([...ADDON_FUNCTIONS].sort());
  });

  it('maps a rejected call to ShapeError naming the op and argument', () => {
    tidy(() => {
      const x = Tensor.zeros([2, 3]);
      expect(() => native.softmax(x.desc(), Tensor.empty([2, 4]).desc(), false)).toThrow(ShapeError);
      expect(() => native.softmax(x.desc(), Tensor.empty([2, 4]).desc(), false)).toThrow(
        /softmax: 'out' has shape \[2,4\], expected \[2,3\]/,
      );
      expect(() => native.setCpuImpl('turbo' as never)).toThrow(
        /setCpuImpl: argument 'impl' must be one of 'fast', 'reference', got 'turbo'/,
      );
      expect(() => native.empty(8, 'tpu' as never)).toThrow(ShapeError);
    });
  });

  it('maps a failed queued kernel to KernelError on the async and blocking paths', async () => {
    const ids = Tensor.fromArray(Int32Array.of(7), [1]);
    const table = Tensor.zeros([4, 2]);
    const bad = Tensor.empty([1, 2]);
    native.embedding(table.desc(), ids.desc(), bad.desc());
    await expect(native.read(bad.desc())).rejects.toThrow(KernelError);
    native.embedding(table.desc(), ids.desc(), bad.desc());
    expect(() => native.syncBlocking()).toThrow(KernelError);
    for (const t of [ids, table, bad]) t.dispose();
  });
});

describe('setCpuIsa', () => {
  const feats = native.cpuFeatures();
  const best = feats.avx512f ? 'avx512' : feats.avx2 ? 'avx2' : 'scalar';

  it('caps every family at the requested level, or at what the CPU has', () => {
    for (const family of ['gemm', 'attention', 'pointwise'] as const) {
      expect(native.setCpuIsa(family, 'scalar'), family).toBe('scalar');
      expect(native.setCpuIsa(family, 'avx2'), family).toBe(feats.avx2 ? 'avx2' : 'scalar');
      expect(native.setCpuIsa(family, 'avx512'), family).toBe(best);
    }
  });

  it("'avx512bf16' selects vdpbf16ps for the GEMM only where the CPU has it; other families read it as avx512", () => {
    expect(native.setCpuIsa('gemm', 'avx512bf16')).toBe(feats.avx512bf16 ? 'avx512bf16' : best);
    expect(native.setCpuIsa('attention', 'avx512bf16')).toBe(best);
    expect(native.setCpuIsa('pointwise', 'avx512bf16')).toBe(best);
  });

  it("'auto' restores the widest level", () => {
    expect(native.setCpuIsa('attention', 'auto')).toBe(best);
    expect(native.setCpuIsa('pointwise', 'auto')).toBe(best);
    expect(['avx512bf16', best]).toContain(native.setCpuIsa('gemm', 'auto'));
  });

  it('rejects unknown families and levels', () => {
    expect(() => native.setCpuIsa('conv' as never, 'auto')).toThrow(/'family' must be one of 'gemm', 'attention', 'pointwise'/);
    expect(() => native.setCpuIsa('gemm', 'sse' as never)).toThrow(ShapeError);
  });
});
