// Cancellation has one error class: the names the package exported per stage before
// (PipelineAbortedError, GenerationAbortedError, SamplerAbortedError) are aliases of AbortedError,
// so `instanceof` with any of them catches an abort from any stage.
import { describe, expect, it } from 'vitest';
import { AbortedError, GenerationAbortedError, PipelineAbortedError, SamplerAbortedError, AcestepError } from '../src/index.js';
import { sample } from '../src/pipeline/diffusion/sampler.js';

describe('AbortedError', () => {
  it('is the one class behind every exported abort name', () => {
    expect(PipelineAbortedError).toBe(AbortedError);
    expect(GenerationAbortedError).toBe(AbortedError);
    expect(SamplerAbortedError).toBe(AbortedError);
  });

  it('a sampler abort is caught under every name, with code ERR_ABORTED', async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await sample(() => new Float32Array(4), { main: null }, new Float32Array(4), [1, 2, 2], {
      variant: 'turbo',
      signal: ac.signal,
    }).catch((e) => e);
    for (const cls of [AbortedError, PipelineAbortedError, GenerationAbortedError, SamplerAbortedError, AcestepError])
      expect(err).toBeInstanceOf(cls);
    expect(err.code).toBe('ERR_ABORTED');
    expect(err.message).toMatch(/before step 1 of/);
  });
});
