// Differential op harness (like llama.cpp's test-backend-ops): every case of every op family in
// test/backend-ops/*.ts runs on the scalar reference kernels, the fast CPU kernels and CUDA when
// a device is present; each backend must match the reference within the case's tolerance.
import { afterAll, describe, expect, it } from 'vitest';
import { cudaInfo, Tensor, tidy, type Device } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import type { OpCase } from './backend-ops/harness.js';

const modules = import.meta.glob<{ cases: OpCase[] }>('./backend-ops/*.ts', { eager: true });
const all: OpCase[] = Object.entries(modules)
  .filter(([path]) => !path.endsWith('harness.ts'))
  .flatMap(([, m]) => m.cases ?? []);

const backends: { name: string; device: Device; impl: 'fast' | 'reference' }[] = [{ name: 'cpu', device: 'cpu', impl: 'fast' }];
if (cudaInfo().available) backends.push({ name: 'cuda', device: 'cuda', impl: 'fast' });

function outputs(c: OpCase, device: Device, impl: 'fast' | 'reference'): Float64Array[] {
  native.setCpuImpl(impl);
  try {
    return tidy(() => {
      const r = impl === 'reference' && c.reference ? c.reference(device) : c.run(device);
      const list = Array.isArray(r) ? r : [r];
      return list.map((t: Tensor) => {
        const data =
          t.dtype === 'f32' || t.dtype === 'i32' || t.dtype === 'i64' || t.dtype === 'u8' || t.dtype === 'i8'
            ? t.dataSync()
            : t.toFloat32Sync();
        return Float64Array.from(data as ArrayLike<number | bigint>, Number);
      });
    });
  } finally {
    native.setCpuImpl('fast');
  }
}

afterAll(() => native.setCpuImpl('fast'));

it('has cases', () => {
  expect(all.length).toBeGreaterThan(0);
});

for (const b of backends) {
  describe(`backend ${b.name}`, () => {
    for (const c of all) {
      const skip = b.device === 'cuda' && c.skipCuda;
      it.skipIf(!!skip)(`${c.op} ${c.name}`, () => {
        const ref = outputs(c, 'cpu', 'reference');
        const got = outputs(c, b.device, b.impl);
        expect(got.length).toBe(ref.length);
        for (let k = 0; k < ref.length; k++) {
          const r = ref[k],
            g = got[k];
          expect(g.length, `output ${k} length`).toBe(r.length);
          let worst = 0,
            at = -1;
          for (let i = 0; i < r.length; i++) {
            const bound = c.tol.exact ? 0 : c.tol.atol + (c.tol.rtol ?? 0) * Math.abs(r[i]);
            const d = Math.abs(g[i] - r[i]);
            const bad = Number.isNaN(d) ? !(Number.isNaN(g[i]) && Number.isNaN(r[i])) && g[i] !== r[i] : d > bound;
            if (bad && (d > worst || Number.isNaN(d))) {
              worst = Number.isNaN(d) ? Infinity : d;
              at = i;
            }
          }
          expect(
            at,
            `${c.op} ${c.name} output ${k}: element ${at} got ${g[at]} want ${r[at]} (tolerance ${c.tol.atol}+${c.tol.rtol ?? 0}|ref|: ${c.tol.why})`,
          ).toBe(-1);
        }
      });
    }
  });
}
