// Checkpoint directories: the golden tiny checkpoints, a hand-made sharded one, prefix tolerance
// and the typed errors for missing config, missing/unexpected tensors and bad shard indexes.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Checkpoint } from '../src/io/checkpoint.js';
import { CheckpointError } from '../src/io/errors.js';
import { encodeSafetensors } from '../src/io/safetensors.js';

const GOLD = 'test/fixtures/golden/checkpoints';

/** A safetensors file of 1-D F32 tensors. */
function safetensors(tensors: Record<string, number[]>): Buffer {
  return encodeSafetensors(
    Object.fromEntries(
      Object.entries(tensors).map(([name, v]) => [name, { dtype: 'F32' as const, shape: [v.length], data: new Float32Array(v) }]),
    ),
  );
}

function dir(files: Record<string, string | Buffer>): string {
  const d = mkdtempSync(join(tmpdir(), 'ckpt-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(d, name), content);
  return d;
}

describe('Checkpoint', () => {
  it('opens the golden LM with and without the model. prefix', () => {
    const ck = Checkpoint.open(`${GOLD}/acestep-5Hz-lm-tiny`);
    expect(ck.config.hidden_size).toBe(64);
    expect(ck.names).toContain('model.embed_tokens.weight');
    // Lookup tolerates the missing prefix; the view has the stored shape and bytes.
    const a = ck.get('embed_tokens.weight');
    const b = ck.get('model.embed_tokens.weight');
    expect(a.shape).toEqual([300, 64]);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    a.dispose();
    b.dispose();
    ck.dispose();

    const stripped = Checkpoint.open(`${GOLD}/acestep-5Hz-lm-tiny`, { stripPrefix: 'model.' });
    expect(stripped.names).toContain('embed_tokens.weight');
    expect(stripped.has('model.embed_tokens.weight')).toBe(true);
    expect(stripped.has('layers.0.self_attn.q_proj.weight')).toBe(true);
    stripped.dispose();
  });

  it('matches the bytes of the file for a VAE (diffusion_pytorch_model.safetensors)', () => {
    const ck = Checkpoint.open(`${GOLD}/vae-tiny`);
    const info = ck.info('encoder.conv1.bias');
    expect(info.file).toMatch(/diffusion_pytorch_model\.safetensors$/);
    const t = ck.get('encoder.conv1.bias');
    const raw = readFileSync(info.file);
    const dataStart = 8 + Number(raw.readBigUInt64LE(0));
    const expected = new Float32Array(raw.buffer.slice(raw.byteOffset + dataStart + info.begin, raw.byteOffset + dataStart + info.end));
    expect(Array.from(t.dataSync())).toEqual(Array.from(expected));
    t.dispose();
    ck.dispose();
  });

  it('checks expected shapes and dtypes', () => {
    const ck = Checkpoint.open(`${GOLD}/acestep-5Hz-lm-tiny`);
    expect(() => ck.get('model.embed_tokens.weight', { shape: [300, 47] })).toThrow(
      /\[model\.embed_tokens\.weight\]: shape \[300, 64\] but the model expects \[300, 47\]/,
    );
    expect(() => ck.get('model.embed_tokens.weight', { dtype: 'bf16' })).toThrow(/dtype f32 but the model expects bf16/);
    ck.get('model.embed_tokens.weight', { shape: [300, 64], dtype: ['f32', 'bf16'] }).dispose();
    expect(() => ck.get('nope.weight')).toThrow(CheckpointError);
    ck.dispose();
    expect(() => ck.get('model.embed_tokens.weight')).toThrow(/disposed/);
  });

  it('reports missing and unexpected tensors together', () => {
    const ck = Checkpoint.open(`${GOLD}/acestep-5Hz-lm-tiny`);
    const all = ck.names;
    ck.expectTensors(all);
    ck.expectTensors(all.map((n) => n.replace(/^model\./, '')));
    let err: unknown;
    try {
      ck.expectTensors([...all.slice(1), 'model.extra.weight']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as CheckpointError).message).toMatch(
      /1 missing tensor\(s\): model\.extra\.weight; 1 unexpected tensor\(s\): model\.embed_tokens\.weight/,
    );
    expect((err as { missing: string[] }).missing).toEqual(['model.extra.weight']);
    ck.expectTensors(all.slice(1), { ignoreUnexpected: [/embed_tokens/] });
    ck.dispose();
  });

  it('reads a sharded checkpoint through model.safetensors.index.json', () => {
    const d = dir({
      'config.json': '{"hidden_size": 2}',
      'model-00001-of-00002.safetensors': safetensors({ 'model.a': [1, 2], 'model.b': [3] }),
      'model-00002-of-00002.safetensors': safetensors({ 'model.c': [4, 5, 6] }),
      'model.safetensors.index.json': JSON.stringify({
        metadata: { total_size: 24 },
        weight_map: {
          'model.a': 'model-00001-of-00002.safetensors',
          'model.b': 'model-00001-of-00002.safetensors',
          'model.c': 'model-00002-of-00002.safetensors',
        },
      }),
    });
    const ck = Checkpoint.open(d, { stripPrefix: 'model.' });
    expect(ck.names.sort()).toEqual(['a', 'b', 'c']);
    expect(ck.paths).toHaveLength(2);
    const c = ck.get('c');
    expect(Array.from(c.dataSync())).toEqual([4, 5, 6]);
    c.dispose();
    ck.dispose();
  });

  it('rejects broken directories with errors naming the file', () => {
    const st = safetensors({ a: [1] });
    expect(() => Checkpoint.open(join(tmpdir(), 'does-not-exist-acestep'))).toThrow(/does not exist/);
    expect(() => Checkpoint.open(dir({ 'model.safetensors': st }))).toThrow(/config\.json: config\.json is missing/);
    expect(() => Checkpoint.open(dir({ 'config.json': '{oops', 'model.safetensors': st }))).toThrow(/config\.json is not valid JSON/);
    expect(() => Checkpoint.open(dir({ 'config.json': '[1]', 'model.safetensors': st }))).toThrow(/not a JSON object/);
    expect(() => Checkpoint.open(dir({ 'config.json': '{}' }))).toThrow(/no weights/);
    expect(Checkpoint.open(dir({ 'model.safetensors': st }), { requireConfig: false }).names).toEqual(['a']);
    const shard = (wm: unknown, files: Record<string, Buffer> = { 's1.safetensors': st }) =>
      Checkpoint.open(dir({ 'config.json': '{}', 'model.safetensors.index.json': JSON.stringify({ weight_map: wm }), ...files }));
    expect(() => shard({ a: '../s1.safetensors' })).toThrow(/not a shard file name/);
    expect(() => shard({ a: 's2.safetensors' })).toThrow(
      /s2\.safetensors \[a\]: shard 's2\.safetensors' listed in model\.safetensors\.index\.json is missing/,
    );
    expect(() => shard({ b: 's1.safetensors' })).toThrow(/s1\.safetensors \[b\]: tensor listed in .* is not in this shard/);
    expect(() => shard({ a: 's1.safetensors' }, { 's1.safetensors': safetensors({ a: [1], z: [2] }) })).toThrow(
      /\[z\]: tensor is in this shard but/,
    );
    expect(() => shard({})).toThrow(/weight_map is empty/);
    expect(() => shard(null)).toThrow(/no weight_map object/);
    // With a strip prefix, 'model.a' and 'a' would both become 'a'.
    const dup = dir({ 'config.json': '{}', 'model.safetensors': safetensors({ a: [1], 'model.a': [2] }) });
    expect(() => Checkpoint.open(dup, { stripPrefix: 'model.' })).toThrow(/stored twice/);
  });
});
