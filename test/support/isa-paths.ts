// The differential harness runs the fast paths at the machine's widest ISA; this reruns a kernel
// family's harness cases with the AVX2 and portable (scalar) fast paths selected through
// setCpuIsa(family, ...), against the same scalar reference and the same per-case tolerances.
import { describe, expect, it } from 'vitest';
import { Tensor, tidy } from '../../src/runtime/index.js';
import { native } from '../../src/runtime/native.js';
import type { OpCase } from '../backend-ops/harness.js';
import { expectClose } from './compare.js';

function outputs(c: OpCase, impl: 'fast' | 'reference'): Float64Array[] {
  native.setCpuImpl(impl);
  try {
    return tidy(() => {
      const r = c.run('cpu');
      return (Array.isArray(r) ? r : [r]).map((t: Tensor) =>
        Float64Array.from((t.dtype === 'f32' || t.dtype === 'i32' ? t.dataSync() : t.toFloat32Sync()) as ArrayLike<number>),
      );
    });
  } finally {
    native.setCpuImpl('fast');
  }
}

export function describeNarrowIsaPaths(family: string, cases: readonly OpCase[], isaFamily: 'pointwise' | 'gemm' = 'pointwise'): void {
  describe.each(['avx2', 'scalar'] as const)(`${family} harness cases on the %s fast path`, (isa) => {
    it(`all ${cases.length} cases match the reference`, () => {
      const eff = native.setCpuIsa(isaFamily, isa);
      expect(isa === 'scalar' ? ['scalar'] : ['scalar', 'avx2']).toContain(eff);
      try {
        for (const c of cases) {
          const ref = outputs(c, 'reference'),
            got = outputs(c, 'fast');
          for (let k = 0; k < ref.length; k++) {
            const tol = c.tol.exact ? { atol: 0, rtol: 0, why: c.tol.why } : c.tol;
            expectClose(got[k], ref[k], tol, `${c.op} ${c.name} output ${k}`);
          }
        }
      } finally {
        native.setCpuIsa(isaFamily, 'auto');
      }
    });
  });
}
