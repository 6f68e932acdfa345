// safetensors reader against the golden fixtures and hand-made malformed files.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../src/io/errors.js';
import { SafetensorsFile } from '../src/io/safetensors.js';

function file(header: object | string, data = Buffer.alloc(0)): string {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  const p = join(mkdtempSync(join(tmpdir(), 'st-')), 'x.safetensors');
  writeFileSync(p, Buffer.concat([len, h, data]));
  return p;
}

describe('safetensors', () => {
  it('reads tensors with __metadata__ as zero-copy views', () => {
    const data = Buffer.alloc(24);
    new Float32Array(data.buffer, data.byteOffset, 6).set([1, 2, 3, 4, 5, 6]);
    const p = file({ __metadata__: { format: 'pt' }, a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] } }, data);
    const f = SafetensorsFile.open(p);
    expect(f.metadata.format).toBe('pt');
    const t = f.get('a');
    f.close();
    expect(Array.from(t.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('names the file and tensor on malformed input', () => {
    expect(() => SafetensorsFile.open(file({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 16] } }, Buffer.alloc(16)))).toThrow(
      /\[a\]: shape \[2\] of F32 needs 8 bytes/,
    );
    expect(() => SafetensorsFile.open(file({ a: { dtype: 'Q4', shape: [2], data_offsets: [0, 8] } }, Buffer.alloc(8)))).toThrow(
      CheckpointError,
    );
    expect(() => SafetensorsFile.open(file('{not json'))).toThrow(/not valid JSON/);
    expect(() => SafetensorsFile.open(file({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, Buffer.alloc(8)))).toThrow(
      /past the data section/,
    );
    expect(() =>
      SafetensorsFile.open(
        file(
          { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } },
          Buffer.alloc(12),
        ),
      ),
    ).toThrow(/overlaps/);
  });
});
