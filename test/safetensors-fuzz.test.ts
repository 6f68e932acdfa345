// Fuzz of the safetensors and checkpoint readers with a deterministic corpus of mutations:
// structured header edits (wrong types, huge numbers, bad offsets, unknown dtypes, shape
// mismatches, overlaps), byte-level damage to whole files (truncation, flips, bad length
// prefixes) and damaged shard indexes. Every case must either open, with every tensor readable at
// its declared size, or throw CheckpointError; any other exception or a crash fails the test.
//
// Why our own reader: the npm package `safetensors` 0.0.1 (checked with `npm pack` and by running
// its dist/safetensors.es.js on test/fixtures/golden/checkpoints/acestep-5Hz-lm-tiny) throws
// "Cannot read properties of undefined (reading 'map')" on any file with a `__metadata__` entry,
// because it maps every header key's data_offsets; it also ignores the Uint8Array's byteOffset
// and validates nothing. Every checkpoint written by HF tooling carries `__metadata__`.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Checkpoint } from '../src/io/checkpoint.js';
import { CheckpointError } from '../src/io/errors.js';
import { parseHeader, SafetensorsFile } from '../src/io/safetensors.js';
import { rng } from './support/random.js';

type Header = Record<string, unknown>;

const DIR = mkdtempSync(join(tmpdir(), 'st-fuzz-'));
let fileNo = 0;

function encode(header: Header | string, data: Buffer, lenOverride?: bigint): Buffer {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lenOverride ?? BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

/** A valid base file: four tensors of different dtypes, metadata, a 2-byte gap for alignment. */
function base(): { header: Header; data: Buffer } {
  const data = Buffer.alloc(24 + 8 + 2 + 6 + 16);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) & 255;
  return {
    header: {
      __metadata__: { format: 'pt' },
      w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
      h: { dtype: 'BF16', shape: [4], data_offsets: [24, 32] },
      b: { dtype: 'U8', shape: [2], data_offsets: [32, 34] },
      f: { dtype: 'F16', shape: [3, 1], data_offsets: [34, 40] },
      i: { dtype: 'I64', shape: [2], data_offsets: [40, 56] },
    },
    data,
  };
}

/** Opens a file and reads every tensor fully; returns 'ok' or the CheckpointError message. */
function exercise(buf: Buffer): string {
  const p = join(DIR, `${fileNo++}.safetensors`);
  writeFileSync(p, buf);
  let f: SafetensorsFile | undefined;
  try {
    f = SafetensorsFile.open(p);
    for (const name of f.names) {
      const t = f.get(name);
      const got = t.dataSync();
      if (got.length !== t.numel) throw new Error(`read ${got.length} elements of ${t.numel}`);
      t.dispose();
    }
    return 'ok';
  } catch (e) {
    if (e instanceof CheckpointError) return e.message;
    throw new Error(`case ${p}: ${(e as Error).stack}`);
  } finally {
    f?.close();
  }
}

const WEIRD: unknown[] = [
  null,
  true,
  -1,
  1.5,
  2 ** 53,
  2 ** 64,
  1e308,
  '8',
  [],
  {},
  [[1]],
  [-1],
  [1.5],
  ['a'],
  [2 ** 62],
  [0, 0, 0],
  'F32',
];

/** One structured mutation of a header, chosen by `r`. */
function mutateHeader(h: Header, r: () => number): void {
  const names = Object.keys(h).filter((n) => n !== '__metadata__');
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const name = pick(names);
  const e = h[name] as Record<string, unknown>;
  const other = h[pick(names)] as { data_offsets: number[] };
  switch (Math.floor(r() * 14)) {
    case 0:
      e.dtype = pick(['F64', 'Q4', 'f32', '', 'I8', 'U16', 'BOOL', 'F8_E4M3', ...WEIRD]);
      break;
    case 1:
      e.shape = pick(WEIRD);
      break;
    case 2:
      (e.shape as number[])[0] = pick([0, 1, 2, 3, 5, 2 ** 31, 2 ** 53 - 1, -0, 7.5]);
      break;
    case 3:
      e.shape = [...(e.shape as number[]), pick([1, 2, 0])];
      break;
    case 4:
      e.data_offsets = pick(WEIRD);
      break;
    case 5:
      (e.data_offsets as number[]).reverse();
      break;
    case 6:
      (e.data_offsets as number[])[Math.floor(r() * 2)] += pick([-2, -1, 1, 2, 1000, 2 ** 40, 2 ** 53]);
      break;
    case 7:
      e.data_offsets = [...other.data_offsets];
      break; // overlap with another tensor
    case 8:
      delete e[pick(['dtype', 'shape', 'data_offsets'])];
      break;
    case 9:
      h[name] = pick(WEIRD);
      break;
    case 10:
      h.__metadata__ = pick([...WEIRD, { a: 1 }, { a: null }, { a: 'b' }]);
      break;
    case 11:
      h[`extra${Math.floor(r() * 3)}`] = {
        dtype: 'U8',
        shape: [pick([1, 2, 16])],
        data_offsets: [pick([0, 40, 56, 55]), pick([1, 56, 57, 72])],
      };
      break;
    case 12:
      delete h[name];
      break;
    default: {
      const [a, b] = e.data_offsets as number[];
      e.data_offsets = [a + 1, b + 1]; // misaligned but in range, or off the end
    }
  }
}

describe('safetensors fuzz', () => {
  it('structured header mutations open or throw CheckpointError (3000 cases)', () => {
    const r = rng(1234);
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const { header, data } = base();
      const rounds = 1 + Math.floor(r() * 3);
      for (let k = 0; k < rounds; k++) {
        try {
          mutateHeader(header, r);
        } catch {
          // An edit that needs an array where an earlier round left something else is skipped.
        }
      }
      // Most cases go through the parser alone (fast); every tenth through a real file and mmap.
      let outcome: string;
      if (i % 10 === 0) outcome = exercise(encode(header, data));
      else {
        try {
          parseHeader('fuzz', JSON.stringify(header), data.length);
          outcome = 'ok';
        } catch (e) {
          if (!(e instanceof CheckpointError)) throw new Error(`case ${i}: ${JSON.stringify(header)}: ${(e as Error).stack}`);
          outcome = e.message
            .replace(/\d+/g, 'N')
            .replace(/\[[^\]]*\]/g, '[]')
            .slice(0, 40);
        }
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    // The corpus must exercise both paths and many distinct rejection reasons.
    expect(outcomes.get('ok') ?? 0).toBeGreaterThan(50);
    expect(outcomes.size).toBeGreaterThan(15);
  });

  it('byte-level damage to whole files opens or throws CheckpointError (2000 cases)', () => {
    const r = rng(99);
    const { header, data } = base();
    const good = encode(header, data);
    const hlen = Number(good.readBigUInt64LE(0));
    let rejected = 0;
    for (let i = 0; i < 2000; i++) {
      let buf = Buffer.from(good);
      switch (i % 5) {
        case 0:
          buf = buf.subarray(0, Math.floor(r() * buf.length));
          break;
        case 1:
          for (let k = 0; k < 1 + Math.floor(r() * 4); k++) buf[8 + Math.floor(r() * hlen)] ^= 1 << Math.floor(r() * 8);
          break;
        case 2:
          buf.writeBigUInt64LE(
            [
              0n,
              1n,
              2n,
              BigInt(hlen - 1),
              BigInt(hlen + 1),
              BigInt(buf.length),
              2n ** 63n,
              2n ** 64n - 1n,
              BigInt(Math.floor(r() * 2 ** 32)),
            ][i % 9],
            0,
          );
          break;
        case 3:
          buf = Buffer.concat([buf, Buffer.alloc(Math.floor(r() * 64), 0xff)]);
          break;
        default:
          buf[8 + Math.floor(r() * hlen)] = [0x00, 0x22, 0x7b, 0x7d, 0x5b, 0x2c, 0x80, 0xff][Math.floor(r() * 8)];
      }
      if (exercise(buf) !== 'ok') rejected++;
    }
    expect(rejected).toBeGreaterThan(1000);
  });

  it('damaged golden checkpoints open or throw CheckpointError', () => {
    const r = rng(7);
    const gold = readFileSync('test/fixtures/golden/checkpoints/vae-tiny/diffusion_pytorch_model.safetensors');
    const hlen = Number(gold.readBigUInt64LE(0));
    for (let i = 0; i < 200; i++) {
      const buf = Buffer.from(gold);
      buf[8 + Math.floor(r() * hlen)] = 0x20 + Math.floor(r() * 0x5f);
      exercise(i % 4 === 0 ? buf.subarray(0, 8 + hlen + Math.floor(r() * (gold.length - 8 - hlen))) : buf);
    }
  });

  it('damaged shard indexes and missing/unexpected tensors throw CheckpointError', () => {
    const r = rng(5);
    const { header, data } = base();
    const shard = encode(header, data);
    const names = Object.keys(header).filter((n) => n !== '__metadata__');
    const variants: unknown[] = [];
    for (let i = 0; i < 300; i++) {
      const wm: Record<string, unknown> = Object.fromEntries(names.map((n) => [n, 's.safetensors']));
      const k = names[Math.floor(r() * names.length)];
      const c = Math.floor(r() * 7);
      if (c === 0) delete wm[k];
      else if (c === 1) wm[`ghost${i}`] = 's.safetensors';
      else if (c === 2) wm[k] = ['t.safetensors', '../s.safetensors', '', 5, null, '/etc/passwd', '.'][i % 7];
      else if (c === 3) variants.push({ weight_map: [wm] });
      else if (c === 4) variants.push('{"weight_map": ');
      else if (c === 5) variants.push({ metadata: {} });
      variants.push({ weight_map: wm });
    }
    let ok = 0;
    for (const [i, v] of variants.entries()) {
      const d = mkdtempSync(join(DIR, `ck${i}-`));
      writeFileSync(join(d, 'config.json'), '{}');
      writeFileSync(join(d, 's.safetensors'), shard);
      writeFileSync(join(d, 'model.safetensors.index.json'), typeof v === 'string' ? v : JSON.stringify(v));
      try {
        const ck = Checkpoint.open(d);
        ck.expectTensors(names);
        ck.dispose();
        ok++;
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw new Error(`variant ${JSON.stringify(v)}: ${(e as Error).stack}`);
      }
    }
    // Only the untouched maps (c >= 5 add an intact one; c === 6 changes nothing) may succeed.
    expect(ok).toBeGreaterThan(0);
    expect(ok).toBeLessThan(variants.length / 2);
  });
});
