// CUDA runtime surface that is checkable on any machine: the probe reports a reason when no device
// is usable, and the experimental graph exports refuse to run unless ACESTEP_CUDA_GRAPHS=1 and a
// device exists. Where a device is present, a captured copy is replayed after its source tensor
// was refilled in place, which is the contract LM decode would rely on.
import { afterEach, describe, expect, it } from 'vitest';
import { cudaInfo, Tensor } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';

afterEach(() => {
  delete process.env.ACESTEP_CUDA_GRAPHS;
});

describe('cuda runtime', () => {
  it('cudaInfo explains why CUDA is unavailable', () => {
    const info = cudaInfo();
    expect(typeof info.compiled).toBe('boolean');
    if (!info.available) expect(info.status.length).toBeGreaterThan(10);
    else expect(info.status).toMatch(/sm_\d+/);
  });

  it('graph exports are off unless ACESTEP_CUDA_GRAPHS=1', () => {
    delete process.env.ACESTEP_CUDA_GRAPHS;
    for (const f of ['cudaGraphBegin', 'cudaGraphEnd']) expect(() => native[f]()).toThrow(/ACESTEP_CUDA_GRAPHS=1/);
    expect(() => native.cudaGraphLaunch(1)).toThrow(/ACESTEP_CUDA_GRAPHS=1/);
  });

  it('with the flag, graphs need a device; on one, a replay reads refilled inputs', async () => {
    process.env.ACESTEP_CUDA_GRAPHS = '1';
    if (!cudaInfo().available) {
      expect(() => native.cudaGraphBegin()).toThrow(/CUDA is unavailable|built with CUDA/);
      return;
    }
    const src = Tensor.fromArray([1, 2, 3, 4], [4], { device: 'cuda' });
    const dst = Tensor.zeros([4], 'f32', 'cuda');
    await dst.data(); // materialise both buffers before the capture
    native.cudaGraphBegin();
    dst.assign(src);
    const h = native.cudaGraphEnd();
    expect(typeof h).toBe('number');
    src.assign(Tensor.fromArray([5, 6, 7, 8], [4], { device: 'cuda' }));
    native.cudaGraphLaunch(h);
    expect(Array.from(await dst.data())).toEqual([5, 6, 7, 8]);
    native.cudaGraphDestroy(h);
    expect(() => {
      native.cudaGraphLaunch(h);
      native.syncBlocking();
    }).toThrow(/unknown CUDA graph handle/);
    src.dispose();
    dst.dispose();
  });
});
