// silence_latent.pt (torch.save zip archive) reader: the golden archives must equal their
// safetensors conversions exactly; hand-built archives cover strided views, other dtypes, state
// dicts and the typed errors for compressed, corrupt or hostile input.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointError } from '../src/io/errors.js';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { rng } from './support/random.js';
import { loadSilenceLatent, readTorchTensor, TorchArchive } from '../src/io/torch-zip.js';

const GOLD = 'test/fixtures/golden/checkpoints';

const crcCache = new WeakMap<Uint8Array, number>();
function crc32(b: Uint8Array): number {
  const cached = crcCache.get(b);
  if (cached !== undefined) return cached;
  let c = ~0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  crcCache.set(b, ~c >>> 0);
  return ~c >>> 0;
}

/** A minimal zip writer (stored entries) independent of the reader under test. */
function zip(entries: Record<string, Buffer>, opts: { method?: number; badCrc?: string } = {}): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let off = 0;
  for (const [name, data] of Object.entries(entries)) {
    const n = Buffer.from(name);
    const crc = crc32(data) ^ (opts.badCrc === name ? 1 : 0);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(opts.method ?? 0, 8);
    lh.writeUInt32LE(crc >>> 0, 14);
    lh.writeUInt32LE(data.length, 18);
    lh.writeUInt32LE(data.length, 22);
    lh.writeUInt16LE(n.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(opts.method ?? 0, 10);
    ch.writeUInt32LE(crc >>> 0, 16);
    ch.writeUInt32LE(data.length, 20);
    ch.writeUInt32LE(data.length, 24);
    ch.writeUInt16LE(n.length, 28);
    ch.writeUInt32LE(off, 42);
    locals.push(lh, n, data);
    central.push(ch, n);
    off += 30 + n.length + data.length;
  }
  const cd = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(Object.keys(entries).length, 8);
  eocd.writeUInt16LE(Object.keys(entries).length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(off, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

// Pickle fragments in the shape torch.save (protocol 2) emits.
const u8 = (...xs: number[]) => Buffer.from(xs);
const sbu = (s: string) => Buffer.concat([u8(0x58), Buffer.from(new Uint32Array([s.length]).buffer), Buffer.from(s)]);
const int = (v: number) =>
  v < 256 ? u8(0x4b, v) : v < 65536 ? u8(0x4d, v & 255, v >> 8) : Buffer.concat([u8(0x4a), Buffer.from(new Int32Array([v]).buffer)]);
const tuple = (xs: number[]) => Buffer.concat([u8(0x28), ...xs.map(int), u8(0x74)]);
const glob = (m: string, n: string) => Buffer.from(`c${m}\n${n}\n`);
function tensorPickle(storageType: string, key: string, numel: number, offset: number, shape: number[], strides: number[]): Buffer {
  return Buffer.concat([
    glob('torch._utils', '_rebuild_tensor_v2'),
    u8(0x28), // MARK (args)
    u8(0x28),
    sbu('storage'),
    glob('torch', storageType),
    sbu(key),
    sbu('cpu'),
    int(numel),
    u8(0x74, 0x51), // pid tuple, BINPERSID
    int(offset),
    tuple(shape),
    tuple(strides),
    u8(0x89),
    glob('collections', 'OrderedDict'),
    u8(0x29, 0x52), // False, OrderedDict()
    u8(0x74, 0x52), // TUPLE, REDUCE
  ]);
}
const pkl = (body: Buffer) => Buffer.concat([u8(0x80, 0x02), body, u8(0x2e)]);

function write(buf: Buffer): string {
  const p = join(mkdtempSync(join(tmpdir(), 'pt-')), 'x.pt');
  writeFileSync(p, buf);
  return p;
}

describe('torch zip reader', () => {
  for (const ck of ['acestep-v15-turbo-tiny', 'acestep-v15-xl-turbo-tiny', 'acestep-v15-turbo-tiny-bf16']) {
    it(`${ck}/silence_latent.pt equals silence_latent.safetensors bit for bit`, () => {
      const t = readTorchTensor(`${GOLD}/${ck}/silence_latent.pt`);
      const st = SafetensorsFile.open(`${GOLD}/${ck}/silence_latent.safetensors`);
      const ref = st.get('silence_latent');
      expect(t.shape).toEqual(ref.shape);
      expect(t.dtype).toBe('f32');
      expect(Buffer.from((t.dataSync() as Float32Array).buffer).equals(Buffer.from((ref.dataSync() as Float32Array).buffer))).toBe(true);
      t.dispose();
      ref.dispose();
      st.close();
    });
  }

  it('loadSilenceLatent returns the transposed [1, T, 64] layout', () => {
    const raw = readTorchTensor(`${GOLD}/acestep-v15-turbo-tiny/silence_latent.pt`);
    const [, c, t] = raw.shape;
    const r = raw.dataSync() as Float32Array;
    const s = loadSilenceLatent(`${GOLD}/acestep-v15-turbo-tiny`);
    expect(s.shape).toEqual([1, t, c]);
    const d = s.dataSync() as Float32Array;
    for (const [ti, ci] of [
      [0, 0],
      [t - 1, 0],
      [3, c - 1],
      [t - 1, c - 1],
    ])
      expect(d[ti * c + ci]).toBe(r[ci * t + ti]);
    expect(() => loadSilenceLatent(tmpdir())).toThrow(/silence_latent\.pt is missing/);
    raw.dispose();
    s.dispose();
  });

  it('follows the ZIP64 end-of-central-directory record when the classic one is saturated', () => {
    // torch.save writes a ZIP64 record and locator as well; saturating the classic fields forces
    // the reader onto them.
    const gold = readFileSync(`${GOLD}/acestep-v15-turbo-tiny/silence_latent.pt`);
    const buf = Buffer.from(gold);
    const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    expect(buf.readUInt32LE(eocd - 20)).toBe(0x07064b50);
    buf.writeUInt16LE(0xffff, eocd + 8);
    buf.writeUInt16LE(0xffff, eocd + 10);
    buf.writeUInt32LE(0xffffffff, eocd + 12);
    buf.writeUInt32LE(0xffffffff, eocd + 16);
    const a = readTorchTensor(write(buf));
    const b = readTorchTensor(`${GOLD}/acestep-v15-turbo-tiny/silence_latent.pt`);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    a.dispose();
    b.dispose();
    // Without the locator the saturated fields cannot be resolved.
    buf.writeUInt32LE(0, eocd - 20);
    expect(() => readTorchTensor(write(buf))).toThrow(/ZIP64 fields without a ZIP64 locator/);
  });

  it('applies storage offset and strides (a transposed view)', () => {
    // Storage [0..11], offset 2, shape [3, 2], strides [1, 3]: element (i, j) = storage[2 + i + 3j].
    const data = Buffer.from(new Float32Array(Array.from({ length: 12 }, (_, i) => i)).buffer);
    const p = write(zip({ 'arch/data.pkl': pkl(tensorPickle('FloatStorage', '0', 12, 2, [3, 2], [1, 3])), 'arch/data/0': data }));
    const t = readTorchTensor(p);
    expect(t.shape).toEqual([3, 2]);
    expect(Array.from(t.dataSync())).toEqual([2, 5, 3, 6, 4, 7]);
    t.dispose();
  });

  it('reads bf16 storages and state dicts by name', () => {
    const bits = new Uint16Array([0x3f80, 0xc000, 0x4040]); // 1, -2, 3 in bf16
    const body = Buffer.concat([
      glob('collections', 'OrderedDict'),
      u8(0x29, 0x52),
      u8(0x71, 0x00), // OrderedDict(), BINPUT 0
      u8(0x28),
      sbu('a'),
      tensorPickle('BFloat16Storage', '0', 3, 0, [3], [1]),
      sbu('b'),
      tensorPickle('IntStorage', '1', 2, 1, [1], [1]),
      u8(0x75), // SETITEMS
    ]);
    const p = write(
      zip({ 'sd/data.pkl': pkl(body), 'sd/data/0': Buffer.from(bits.buffer), 'sd/data/1': Buffer.from(new Int32Array([7, 9]).buffer) }),
    );
    const ar = new TorchArchive(p);
    expect(ar.names).toEqual(['a', 'b']);
    const a = ar.get('a');
    expect(a.dtype).toBe('bf16');
    expect(Array.from(a.toFloat32Sync())).toEqual([1, -2, 3]);
    const b = ar.get('b');
    expect(Array.from(b.dataSync())).toEqual([9]);
    expect(() => ar.get()).toThrow(/holds 2 tensors/);
    expect(() => ar.get('c')).toThrow(/\[c\]: tensor not found/);
    a.dispose();
    b.dispose();
  });

  it('rejects malformed archives with typed errors naming the cause', () => {
    const data = Buffer.from(new Float32Array(4).buffer);
    const good = pkl(tensorPickle('FloatStorage', '0', 4, 0, [4], [1]));
    const cases: [Buffer, RegExp][] = [
      [Buffer.from('not a zip at all, definitely not'), /no end-of-central-directory/],
      [Buffer.alloc(0), /no end-of-central-directory/],
      [zip({ 'a/data.pkl': good, 'a/data/0': data }, { method: 8 }), /compressed \(method 8\)/],
      [zip({ 'a/data.pkl': good, 'a/data/0': data }, { badCrc: 'a/data/0' }), /\[a\/data\/0\]: zip: CRC-32 mismatch/],
      [zip({ 'a/data/0': data }), /one <archive>\/data\.pkl entry, found 0/],
      [zip({ 'a/data.pkl': good }), /\[a\/data\/0\]: zip: entry not found/],
      [zip({ 'a/data.pkl': good, 'a/data/0': data.subarray(0, 8) }), /has 8 bytes, expected 4 x 4/],
      [zip({ 'a/data.pkl': good.subarray(0, 30), 'a/data/0': data }), /data\.pkl: (truncated|unterminated)/],
      [
        zip({ 'a/data.pkl': pkl(tensorPickle('FloatStorage', '0', 4, 2, [4], [1])), 'a/data/0': data }),
        /reaches element 5 of a storage of 4/,
      ],
      [
        zip({ 'a/data.pkl': pkl(tensorPickle('DoubleStorage', '0', 4, 0, [4], [1])), 'a/data/0': data }),
        /unsupported storage type torch\.DoubleStorage/,
      ],
      [
        zip({ 'a/data.pkl': pkl(Buffer.concat([glob('os', 'system'), sbu('echo hi'), u8(0x85, 0x52)])) }),
        /unsupported callable os\.system/,
      ],
      [zip({ 'a/data.pkl': pkl(u8(0xff)) }), /unsupported opcode 0xff/],
      [zip({ 'a/data.pkl': pkl(u8(0x74)) }), /no MARK/],
      [zip({ 'a/data.pkl': pkl(u8(0x68, 0x05)) }), /memo slot 5 is empty/],
      [zip({ 'a/data.pkl': pkl(tensorPickle('FloatStorage', '0', 4, 0, [1000000], [0])), 'a/data/0': data }), /larger than its storage/],
      [zip({ 'a/data.pkl': good, 'a/byteorder': Buffer.from('big'), 'a/data/0': data }), /byteorder 'big'/],
    ];
    for (const [buf, re] of cases) {
      const p = write(buf);
      let err: unknown;
      try {
        new TorchArchive(p).get().dispose();
      } catch (e) {
        err = e;
      }
      expect(err, String(re)).toBeInstanceOf(CheckpointError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).toContain(p);
    }
    expect(() => readTorchTensor(join(tmpdir(), 'no-such-file.pt'))).toThrow(/cannot read/);
    // The golden file with its data entry truncated away.
    const gold = readFileSync(`${GOLD}/acestep-v15-turbo-tiny/silence_latent.pt`);
    expect(() => readTorchTensor(write(gold.subarray(0, gold.length - 100)))).toThrow(CheckpointError);
  });

  it('fuzz: 3000 damaged archives and pickles load or throw CheckpointError, never anything else', () => {
    const r = rng(42);
    const gold = readFileSync(`${GOLD}/acestep-v15-turbo-tiny/silence_latent.pt`);
    // The first local entry is data.pkl; re-zipping a damaged copy with a fresh CRC drives the
    // damage past the CRC check into the pickle machine.
    const pklStart = 30 + gold.readUInt16LE(26) + gold.readUInt16LE(28);
    const pklBytes = gold.subarray(pklStart, pklStart + gold.readUInt32LE(22));
    const data0 = Buffer.from((readTorchTensor(`${GOLD}/acestep-v15-turbo-tiny/silence_latent.pt`).dataSync() as Float32Array).buffer);
    const dir = mkdtempSync(join(tmpdir(), 'pt-fuzz-'));
    let loaded = 0;
    for (let i = 0; i < 3000; i++) {
      let buf: Buffer;
      const flip = (b: Buffer, lo: number, hi: number) => {
        for (let k = 0; k < 1 + Math.floor(r() * 3); k++) {
          const at = lo + Math.floor(r() * (hi - lo));
          b[at] = r() < 0.5 ? b[at] ^ (1 << Math.floor(r() * 8)) : Math.floor(r() * 256);
        }
      };
      if (i % 2 === 0) {
        let pk = Buffer.from(pklBytes);
        if (i % 6 === 0) pk = pk.subarray(0, Math.floor(r() * pk.length));
        else flip(pk, 0, pk.length);
        buf = zip({ 'silence_latent/data.pkl': pk, 'silence_latent/data/0': data0 });
      } else {
        buf = Buffer.from(gold);
        if (i % 5 === 1) buf = buf.subarray(0, Math.floor(r() * buf.length));
        else flip(buf, i % 3 === 0 ? gold.length - 300 : 0, gold.length);
      }
      const p = join(dir, `${i}.pt`);
      writeFileSync(p, buf);
      try {
        readTorchTensor(p).dispose();
        loaded++;
      } catch (e) {
        if (!(e instanceof CheckpointError)) throw new Error(`case ${p}: ${(e as Error).stack}`);
      }
    }
    // Flips in ignored fields (timestamps, strings like 'cpu') still load; most damage is caught.
    expect(loaded).toBeGreaterThan(0);
    expect(loaded).toBeLessThan(2000);
  });
});
