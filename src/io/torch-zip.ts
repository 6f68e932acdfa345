// Reader for tensors saved with torch.save (zip format), enough for silence_latent.pt without
// PyTorch: a zip central-directory parser (stored entries only), a small pickle machine for the
// opcodes torch.save emits, and a strided gather of `archive/data/<key>` into a contiguous tensor.
// Nothing in the pickle is executed: only a fixed allow-list of globals is understood.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DTYPE_SIZE, type DType } from '../runtime/dtype.js';
import { Tensor } from '../runtime/tensor.js';
import { CheckpointError } from './errors.js';
import { SafetensorsFile } from './safetensors.js';

// ---------------------------------------------------------------- zip

interface ZipEntry {
  name: string;
  method: number;
  size: number;
  compressedSize: number;
  crc: number;
  localOffset: number;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();

  constructor(
    readonly path: string,
    private readonly buf: Buffer,
  ) {
    this.readCentralDirectory();
  }

  private fail(msg: string, entry?: string): never {
    throw new CheckpointError(`zip: ${msg}`, this.path, entry);
  }

  private u16(off: number): number {
    if (off < 0 || off + 2 > this.buf.length) this.fail(`record at byte ${off} runs past the end of the file`);
    return this.buf.readUInt16LE(off);
  }

  private u32(off: number): number {
    if (off < 0 || off + 4 > this.buf.length) this.fail(`record at byte ${off} runs past the end of the file`);
    return this.buf.readUInt32LE(off);
  }

  private u64(off: number): number {
    if (off < 0 || off + 8 > this.buf.length) this.fail(`record at byte ${off} runs past the end of the file`);
    const v = this.buf.readBigUInt64LE(off);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`64-bit field ${v} at byte ${off} is out of range`);
    return Number(v);
  }

  private readCentralDirectory(): void {
    const b = this.buf;
    // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
    let eocd = -1;
    for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 65535); i--) {
      if (b.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) this.fail('no end-of-central-directory record (not a zip archive, or truncated)');
    let count = this.u16(eocd + 10);
    let cdSize = this.u32(eocd + 12);
    let cdOffset = this.u32(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      // ZIP64: a locator just before the EOCD points at the 64-bit record.
      const loc = eocd - 20;
      if (loc < 0 || this.u32(loc) !== 0x07064b50) this.fail('ZIP64 fields without a ZIP64 locator');
      const rec = this.u64(loc + 8);
      if (this.u32(rec) !== 0x06064b50) this.fail('ZIP64 end-of-central-directory record not found');
      count = this.u64(rec + 32);
      cdSize = this.u64(rec + 40);
      cdOffset = this.u64(rec + 48);
    }
    if (cdOffset + cdSize > b.length)
      this.fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) runs past the end of the file (${b.length} bytes)`);
    let p = cdOffset;
    for (let i = 0; i < count; i++) {
      if (this.u32(p) !== 0x02014b50) this.fail(`central directory entry ${i} has a bad signature`);
      const method = this.u16(p + 10);
      const crc = this.u32(p + 16);
      let compressedSize = this.u32(p + 20);
      let size = this.u32(p + 24);
      const nameLen = this.u16(p + 28);
      const extraLen = this.u16(p + 30);
      const commentLen = this.u16(p + 32);
      let localOffset = this.u32(p + 42);
      if (p + 46 + nameLen + extraLen > b.length) this.fail(`central directory entry ${i} runs past the end of the file`);
      const name = b.toString('utf8', p + 46, p + 46 + nameLen);
      // ZIP64 extended information: only the fields saturated in the fixed record are present.
      for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen;) {
        const id = this.u16(e);
        const len = this.u16(e + 2);
        if (id === 0x0001) {
          let q = e + 4;
          if (size === 0xffffffff) ((size = this.u64(q)), (q += 8));
          if (compressedSize === 0xffffffff) ((compressedSize = this.u64(q)), (q += 8));
          if (localOffset === 0xffffffff) localOffset = this.u64(q);
        }
        e += 4 + len;
      }
      if (this.entries.has(name)) this.fail('duplicate entry', name);
      this.entries.set(name, { name, method, size, compressedSize, crc, localOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
  }

  /** The bytes of a stored entry (a view into the archive), checked against its CRC-32. */
  read(name: string): Buffer {
    const e = this.entries.get(name);
    if (!e) this.fail('entry not found', name);
    if (e.method !== 0)
      this.fail(`entry is compressed (method ${e.method}); only stored entries are supported, as torch.save writes them`, name);
    if (e.size !== e.compressedSize) this.fail(`stored entry has size ${e.size} but compressed size ${e.compressedSize}`, name);
    const h = e.localOffset;
    if (this.u32(h) !== 0x04034b50) this.fail(`local header at byte ${h} has a bad signature`, name);
    const start = h + 30 + this.u16(h + 26) + this.u16(h + 28);
    if (start + e.size > this.buf.length)
      this.fail(`data [${start}, ${start + e.size}) runs past the end of the file (${this.buf.length} bytes)`, name);
    const data = this.buf.subarray(start, start + e.size);
    if (crc32(data) !== e.crc) this.fail('CRC-32 mismatch (file is corrupt)', name);
    return data;
  }
}

// ---------------------------------------------------------------- pickle

interface Global {
  kind: 'global';
  module: string;
  name: string;
}
interface StorageRef {
  kind: 'storage';
  dtype: DType;
  key: string;
  numel: number;
}
export interface TorchTensorRef {
  kind: 'tensor';
  storage: StorageRef;
  offset: number;
  shape: number[];
  strides: number[];
}
type Value = unknown;

/** A short, cycle-safe rendering of a pickled value for error messages. */
function show(v: Value, depth = 0): string {
  if (Array.isArray(v))
    return depth > 1
      ? '(...)'
      : `(${v
          .slice(0, 8)
          .map((x) => show(x, depth + 1))
          .join(', ')}${v.length > 8 ? ', ...' : ''})`;
  if (v instanceof Map) return `dict(${v.size})`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (v !== null && typeof v === 'object') return (v as { kind?: string }).kind ?? 'object';
  return String(v);
}

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'f32',
  HalfStorage: 'f16',
  BFloat16Storage: 'bf16',
  IntStorage: 'i32',
  LongStorage: 'i64',
  ByteStorage: 'u8',
  BoolStorage: 'u8',
};

/** Runs the pickle in `data.pkl` and returns the object it builds (tensors as TorchTensorRef). */
export function unpickle(path: string, pkl: Uint8Array): Value {
  const b = Buffer.from(pkl.buffer, pkl.byteOffset, pkl.byteLength);
  const fail = (msg: string): never => {
    throw new CheckpointError(`data.pkl: ${msg}`, path);
  };
  const stack: Value[] = [];
  const metastack: Value[][] = [];
  const memo = new Map<number, Value>();
  let p = 0;
  const need = (n: number): void => {
    if (p + n > b.length) fail(`truncated at byte ${p} (needs ${n} more bytes)`);
  };
  const pop = (): Value => {
    if (stack.length === 0) fail(`stack underflow at byte ${p}`);
    return stack.pop();
  };
  const popMark = (): Value[] => {
    const items = stack.splice(0);
    const prev = metastack.pop();
    if (!prev) fail(`no MARK before byte ${p}`);
    stack.push(...(prev as Value[]));
    return items;
  };
  const top = (): Value => {
    if (stack.length === 0) fail(`stack underflow at byte ${p}`);
    return stack[stack.length - 1];
  };
  const str = (n: number): string => {
    need(n);
    const s = b.toString('utf8', p, p + n);
    p += n;
    return s;
  };
  const line = (): string => {
    const end = b.indexOf(0x0a, p);
    if (end < 0) fail(`unterminated GLOBAL at byte ${p}`);
    const s = b.toString('latin1', p, end);
    p = end + 1;
    return s;
  };
  const setItems = (dict: Value, items: Value[]): void => {
    if (!(dict instanceof Map)) fail('SETITEM(S) on a non-dict');
    if (items.length % 2) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) (dict as Map<Value, Value>).set(items[i], items[i + 1]);
  };
  const append = (list: Value, items: Value[]): void => {
    if (!Array.isArray(list)) fail('APPEND(S) on a non-list');
    (list as Value[]).push(...items);
  };

  for (;;) {
    need(1);
    const op = b[p++];
    switch (op) {
      case 0x80:
        need(1);
        p += 1;
        break; // PROTO
      case 0x95:
        need(8);
        p += 8;
        break; // FRAME: a length hint only
      case 0x2e: {
        // STOP
        const v = pop();
        return v;
      }
      case 0x63: {
        // GLOBAL
        const module = line();
        stack.push({ kind: 'global', module, name: line() } satisfies Global);
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof name !== 'string' || typeof module !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push({ kind: 'global', module, name } as Global);
        break;
      }
      case 0x71:
        need(1);
        memo.set(b[p], top());
        p += 1;
        break; // BINPUT
      case 0x72:
        need(4);
        memo.set(b.readUInt32LE(p), top());
        p += 4;
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, top());
        break; // MEMOIZE
      case 0x68:
      case 0x6a: {
        // BINGET, LONG_BINGET
        const n = op === 0x68 ? 1 : 4;
        need(n);
        const idx = n === 1 ? b[p] : b.readUInt32LE(p);
        p += n;
        if (!memo.has(idx)) fail(`memo slot ${idx} is empty`);
        stack.push(memo.get(idx));
        break;
      }
      case 0x28:
        metastack.push(stack.splice(0));
        break; // MARK: park the stack
      case 0x29:
        stack.push([]);
        break; // EMPTY_TUPLE
      case 0x74:
        stack.push(popMark());
        break; // TUPLE
      case 0x85:
        stack.push([pop()]);
        break; // TUPLE1
      case 0x86: {
        const y = pop();
        stack.push([pop(), y]);
        break;
      } // TUPLE2
      case 0x87: {
        const z = pop();
        const y = pop();
        stack.push([pop(), y, z]);
        break;
      } // TUPLE3
      case 0x5d:
        stack.push([]);
        break; // EMPTY_LIST
      case 0x6c:
        stack.push(popMark());
        break; // LIST
      case 0x61: {
        const v = pop();
        append(top(), [v]);
        break;
      } // APPEND
      case 0x65: {
        const items = popMark();
        append(top(), items);
        break;
      } // APPENDS
      case 0x7d:
        stack.push(new Map());
        break; // EMPTY_DICT
      case 0x64: {
        const m = new Map();
        setItems(m, popMark());
        stack.push(m);
        break;
      } // DICT
      case 0x73: {
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      } // SETITEM
      case 0x75: {
        const items = popMark();
        setItems(top(), items);
        break;
      } // SETITEMS
      case 0x4a:
        need(4);
        stack.push(b.readInt32LE(p));
        p += 4;
        break; // BININT
      case 0x4b:
        need(1);
        stack.push(b[p]);
        p += 1;
        break; // BININT1
      case 0x4d:
        need(2);
        stack.push(b.readUInt16LE(p));
        p += 2;
        break; // BININT2
      case 0x8a: {
        // LONG1: little-endian two's complement of n bytes
        need(1);
        const n = b[p++];
        need(n);
        if (n > 8) fail(`LONG1 of ${n} bytes is out of range`);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[p + i]);
        if (n > 0 && b[p + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        p += n;
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) fail(`integer ${v} is out of range`);
        stack.push(Number(v));
        break;
      }
      case 0x47:
        need(8);
        stack.push(b.readDoubleBE(p));
        p += 8;
        break; // BINFLOAT
      case 0x58:
        need(4);
        {
          const n = b.readUInt32LE(p);
          p += 4;
          stack.push(str(n));
        }
        break; // BINUNICODE
      case 0x8c:
        need(1);
        {
          const n = b[p];
          p += 1;
          stack.push(str(n));
        }
        break; // SHORT_BINUNICODE
      case 0x8d:
        need(8);
        {
          const n = Number(b.readBigUInt64LE(p));
          p += 8;
          stack.push(str(n));
        }
        break; // BINUNICODE8
      case 0x55:
        need(1);
        {
          const n = b[p];
          p += 1;
          stack.push(str(n));
        }
        break; // SHORT_BINSTRING
      case 0x54:
        need(4);
        {
          const n = b.readUInt32LE(p);
          p += 4;
          stack.push(str(n));
        }
        break; // BINSTRING
      case 0x4e:
        stack.push(null);
        break; // NONE
      case 0x88:
        stack.push(true);
        break; // NEWTRUE
      case 0x89:
        stack.push(false);
        break; // NEWFALSE
      case 0x51:
        stack.push(persistentLoad(pop(), fail));
        break; // BINPERSID
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(reduce(fn, args, fail));
        break;
      }
      case 0x81: {
        // NEWOBJ: only OrderedDict-like classes
        const args = pop();
        const cls = pop();
        stack.push(reduce(cls, args, fail));
        break;
      }
      case 0x62: {
        // BUILD: state of an OrderedDict/tensor (ignored when empty)
        const state = pop();
        top();
        const empty = state === null || (state instanceof Map && state.size === 0) || (Array.isArray(state) && state.length === 0);
        if (!empty) fail('BUILD with a non-empty state is not supported');
        break;
      }
      default:
        fail(`unsupported opcode 0x${op.toString(16).padStart(2, '0')} at byte ${p - 1}`);
    }
  }
}

function isGlobal(v: Value, module: string, name: string): boolean {
  const g = v as Global;
  return g !== null && typeof g === 'object' && g.kind === 'global' && g.module === module && g.name === name;
}

function persistentLoad(pid: Value, fail: (m: string) => never): StorageRef {
  // torch.save writes ('storage', <StorageType>, key, location, numel).
  if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') return fail(`unsupported persistent id ${show(pid)}`);
  const [, type, key, , numel] = pid as [string, Global, unknown, unknown, unknown];
  if (!type || type.kind !== 'global' || type.module !== 'torch') return fail('storage type is not a torch global');
  const dtype = STORAGE_DTYPES[type.name];
  if (!dtype) return fail(`unsupported storage type torch.${type.name}`);
  if (typeof key !== 'string' || !/^[A-Za-z0-9_]+$/.test(key)) return fail(`bad storage key ${show(key)}`);
  if (!Number.isSafeInteger(numel) || (numel as number) < 0) return fail(`bad storage size ${show(numel)}`);
  return { kind: 'storage', dtype, key, numel: numel as number };
}

function intTuple(v: Value, what: string, fail: (m: string) => never): number[] {
  if (!Array.isArray(v) || v.length > 8 || !v.every((x) => Number.isSafeInteger(x) && x >= 0)) return fail(`bad tensor ${what} ${show(v)}`);
  return v as number[];
}

function reduce(fn: Value, args: Value, fail: (m: string) => never): Value {
  if (!Array.isArray(args)) return fail('REDUCE arguments are not a tuple');
  if (isGlobal(fn, 'torch._utils', '_rebuild_tensor_v2')) {
    const [storage, offset, size, stride] = args as [StorageRef, unknown, unknown, unknown];
    if (args.length < 4 || !storage || storage.kind !== 'storage') return fail('_rebuild_tensor_v2 without a storage');
    if (!Number.isSafeInteger(offset) || (offset as number) < 0) return fail(`bad storage offset ${show(offset)}`);
    const shape = intTuple(size, 'size', fail);
    const strides = intTuple(stride, 'stride', fail);
    if (shape.length !== strides.length) return fail(`size has ${shape.length} dims but stride has ${strides.length}`);
    // Every addressed element must lie inside the storage.
    const last = shape.some((d) => d === 0) ? -1 : shape.reduce((acc, d, i) => acc + (d - 1) * strides[i], offset as number);
    if (last >= storage.numel) return fail(`tensor reaches element ${last} of a storage of ${storage.numel}`);
    // Expanded (stride-0) views could ask for far more memory than the file holds.
    const numel = shape.reduce((a, d) => a * d, 1);
    if (numel > storage.numel)
      return fail(`tensor of ${numel} elements is larger than its storage (${storage.numel}); expanded views are not supported`);
    return { kind: 'tensor', storage, offset: offset as number, shape, strides } satisfies TorchTensorRef;
  }
  if (isGlobal(fn, 'torch._utils', '_rebuild_parameter')) {
    const t = args[0] as TorchTensorRef;
    if (!t || t.kind !== 'tensor') return fail('_rebuild_parameter without a tensor');
    return t;
  }
  if (isGlobal(fn, 'collections', 'OrderedDict')) {
    if (args.length !== 0) return fail('OrderedDict with arguments is not supported');
    return new Map();
  }
  const g = fn as Global;
  return fail(`unsupported callable ${g && g.kind === 'global' ? `${g.module}.${g.name}` : typeof fn}`);
}

// ---------------------------------------------------------------- tensors

/** A torch.save archive opened in memory. */
export class TorchArchive {
  private readonly zip: ZipArchive;
  private readonly root: string;
  /** The unpickled object: a TorchTensorRef, or a Map of names to them (a state dict). */
  readonly object: Value;

  constructor(readonly path: string) {
    let buf: Buffer;
    try {
      buf = readFileSync(path);
    } catch (e) {
      throw new CheckpointError(`cannot read: ${(e as Error).message}`, path);
    }
    this.zip = new ZipArchive(path, buf);
    const pkls = [...this.zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
    if (pkls.length !== 1) throw new CheckpointError(`expected one <archive>/data.pkl entry, found ${pkls.length}`, path);
    this.root = pkls[0].slice(0, -'/data.pkl'.length);
    const order = this.zip.entries.has(`${this.root}/byteorder`) ? this.zip.read(`${this.root}/byteorder`).toString('latin1') : 'little';
    if (order !== 'little') throw new CheckpointError(`byteorder '${order}' is not supported`, path);
    this.object = unpickle(path, this.zip.read(pkls[0]));
  }

  /** Names of the tensors: '' for an archive holding one bare tensor. */
  get names(): string[] {
    if (isTensorRef(this.object)) return [''];
    if (this.object instanceof Map)
      return [...this.object.entries()].filter(([k, v]) => typeof k === 'string' && isTensorRef(v)).map(([k]) => k as string);
    return [];
  }

  /** Copies a tensor (the bare one when `name` is omitted) into a new contiguous CPU tensor. */
  get(name?: string): Tensor {
    let ref: Value = this.object;
    if (name !== undefined && name !== '') {
      if (!(this.object instanceof Map) || !this.object.has(name))
        throw new CheckpointError('tensor not found in archive', this.path, name);
      ref = this.object.get(name);
    } else if (!isTensorRef(ref)) {
      const names = this.names;
      if (names.length !== 1) throw new CheckpointError(`archive holds ${names.length} tensors; name one of them`, this.path);
      ref = (this.object as Map<string, Value>).get(names[0]);
    }
    if (!isTensorRef(ref)) throw new CheckpointError('entry is not a tensor', this.path, name);
    return this.materialise(ref, name);
  }

  private materialise(ref: TorchTensorRef, name?: string): Tensor {
    const key = `${this.root}/data/${ref.storage.key}`;
    const bytes = this.zip.read(key);
    const es = DTYPE_SIZE[ref.storage.dtype];
    if (bytes.length !== ref.storage.numel * es) {
      throw new CheckpointError(`storage ${key} has ${bytes.length} bytes, expected ${ref.storage.numel} x ${es}`, this.path, name);
    }
    const numel = ref.shape.reduce((a, d) => a * d, 1);
    const contiguous = ref.strides.every((st, i) => ref.shape[i] === 1 || st === ref.shape.slice(i + 1).reduce((a, d) => a * d, 1));
    const out = contiguous
      ? new Uint8Array(bytes.subarray(ref.offset * es, (ref.offset + numel) * es))
      : this.gather(ref, bytes, numel, es);
    const dtype = ref.storage.dtype;
    const buf = out.buffer;
    const arr =
      dtype === 'f32'
        ? new Float32Array(buf)
        : dtype === 'i32'
          ? new Int32Array(buf)
          : dtype === 'i64'
            ? new BigInt64Array(buf)
            : dtype === 'u8'
              ? out
              : new Uint16Array(buf);
    return Tensor.fromArray(arr, ref.shape, { dtype, device: 'cpu' });
  }

  private gather(ref: TorchTensorRef, bytes: Uint8Array, numel: number, es: number): Uint8Array {
    const out = new Uint8Array(numel * es);
    // Only strided (non-contiguous) saves come here, and those are small: an element walk suffices.
    const idx = new Array<number>(ref.shape.length).fill(0);
    let src = ref.offset;
    for (let i = 0; i < numel; i++) {
      for (let k = 0; k < es; k++) out[i * es + k] = bytes[src * es + k];
      for (let d = ref.shape.length - 1; d >= 0; d--) {
        idx[d]++;
        src += ref.strides[d];
        if (idx[d] < ref.shape[d]) break;
        src -= ref.strides[d] * ref.shape[d];
        idx[d] = 0;
      }
    }
    return out;
  }
}

function isTensorRef(v: Value): v is TorchTensorRef {
  return v !== null && typeof v === 'object' && (v as TorchTensorRef).kind === 'tensor';
}

/** Reads the single tensor of a torch.save file (e.g. silence_latent.pt, [1, 64, T] f32). */
export function readTorchTensor(path: string): Tensor {
  return new TorchArchive(path).get();
}

/**
 * The DiT's silence latent in the layout the pipeline uses, [1, T, 64] f32 contiguous: the file
 * holds [1, 64, T] and the upstream loader transposes it. Reads `<dir>/silence_latent.pt`, or a
 * converted `<dir>/silence_latent.safetensors` (tensor `silence_latent`) when there is no .pt.
 */
export function loadSilenceLatent(dir: string): Tensor {
  const pt = join(dir, 'silence_latent.pt');
  const st = join(dir, 'silence_latent.safetensors');
  let raw: Tensor;
  let path = pt;
  if (existsSync(pt)) raw = readTorchTensor(pt);
  else if (existsSync(st)) {
    path = st;
    using f = SafetensorsFile.open(st);
    raw = f.get('silence_latent');
  } else throw new CheckpointError('silence_latent.pt is missing (it is required by the DiT pipeline)', pt);
  using stored = raw;
  if (stored.ndim !== 3 || stored.shape[0] !== 1)
    throw new CheckpointError(`shape [${stored.shape.join(', ')}] is not [1, C, T]`, path, 'silence_latent');
  using f32 = stored.to('f32');
  using view = f32.transpose(1, 2);
  return view.contiguous();
}
