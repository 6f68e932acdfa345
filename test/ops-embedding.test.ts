// embedding against the golden Qwen3 embed_tokens lookup, its data-dependent KernelError, its typed
// argument errors, and the harness cases on the narrower ISA paths.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { embedding, KernelError, Tensor } from '../src/runtime/index.js';
import { cases } from './backend-ops/embedding.js';
import { describeNarrowIsaPaths } from './support/isa-paths.js';
import { normal } from './support/random.js';

describe('embedding', () => {
  it('matches the golden Qwen3 embed_tokens lookup exactly', () => {
    const root = join(import.meta.dirname, 'fixtures', 'golden');
    const ck = SafetensorsFile.open(join(root, 'checkpoints', 'Qwen3-Embedding-tiny', 'model.safetensors'));
    const inputs = SafetensorsFile.open(join(root, 'cases', 'text_encoder', 'inputs.safetensors'));
    const outputs = SafetensorsFile.open(join(root, 'cases', 'text_encoder', 'outputs.safetensors'));
    const got = embedding(ck.get('embed_tokens.weight'), inputs.get('lyric_input_ids'));
    const want = outputs.get('lyric_embeddings');
    expect(got.shape).toEqual(want.shape);
    expect(Array.from(got.dataSync())).toEqual(Array.from(want.dataSync()));
  });

  it('reports an id out of range as a KernelError naming the id, and keeps working', async () => {
    const w = Tensor.fromArray(normal(40, 1), [10, 4]);
    const bad = embedding(w, Tensor.fromArray(new Int32Array([1, 10, 2]), [3]));
    await expect(bad.data()).rejects.toThrow(KernelError);
    const bad2 = embedding(w, Tensor.fromArray(new BigInt64Array([-1n]), [1]));
    await expect(bad2.data()).rejects.toThrow(/id -1 at position 0 is outside the table's range \[0, 10\)/);
    const ok = embedding(w, Tensor.fromArray(new Int32Array([9]), [1]));
    expect(Array.from(await ok.data())).toEqual(Array.from(normal(40, 1).subarray(36, 40)));
  });
});

describe('typed errors', () => {
  it('bad arguments are ShapeErrors naming the cause', () => {
    expect(() => embedding(Tensor.zeros([4, 2]), Tensor.zeros([3]))).toThrow(/'ids' has dtype f32, expected i32\|i64/);
  });
});

describeNarrowIsaPaths('embedding', cases);
