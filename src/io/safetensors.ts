// safetensors reader and writer. Reading memory-maps the file natively; the JSON header is parsed
// and checked here (header length, JSON, dtypes, shapes against byte sizes, offsets in range and
// not overlapping). Tensors are zero-copy views of the mapping. The writer serves adapters, tools
// and tests (one implementation, header padded to 8 bytes as the format recommends).
import { openSync, readSync, closeSync, fstatSync, writeFileSync } from 'node:fs';
import { DTYPE_SIZE, type DType } from '../runtime/dtype.js';
import { native, type BufferHandle } from '../runtime/native.js';
import { Tensor } from '../runtime/tensor.js';
import { CheckpointError } from './errors.js';

export const SAFETENSORS_DTYPES: Record<string, DType> = {
  F32: 'f32',
  F16: 'f16',
  BF16: 'bf16',
  I32: 'i32',
  I64: 'i64',
  U8: 'u8',
  I8: 'i8',
  BOOL: 'u8',
};

export interface TensorInfo {
  name: string;
  dtype: DType;
  /** dtype as written in the file (BOOL reads as u8). */
  fileDtype: string;
  shape: number[];
  /** Byte offsets relative to the start of the data section. */
  begin: number;
  end: number;
}

const MAX_HEADER = 100 * 1024 * 1024;

function readHeader(path: string): { header: string; fileSize: number; headerLen: number } {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const st = fstatSync(fd);
    if (!st.isFile()) throw new CheckpointError('not a regular file', path);
    const fileSize = st.size;
    if (fileSize < 8) throw new CheckpointError(`truncated: ${fileSize} bytes, no header length`, path);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const len = lenBuf.readBigUInt64LE(0);
    if (len < 2n || len > BigInt(MAX_HEADER)) throw new CheckpointError(`bad header length ${len} (file of ${fileSize} bytes)`, path);
    const headerLen = Number(len);
    if (8 + headerLen > fileSize) {
      throw new CheckpointError(`header length ${headerLen} runs past the end of the file (${fileSize} bytes)`, path);
    }
    const hb = Buffer.alloc(headerLen);
    if (readSync(fd, hb, 0, headerLen, 8) !== headerLen) throw new CheckpointError('short read of the header', path);
    let header: string;
    try {
      header = new TextDecoder('utf-8', { fatal: true }).decode(hb);
    } catch {
      throw new CheckpointError('header is not valid UTF-8', path);
    }
    return { header, fileSize, headerLen };
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    throw new CheckpointError(`cannot read: ${(e as Error).message}`, path);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Parses and validates a header; exported for the fuzz test. */
export function parseHeader(
  path: string,
  header: string,
  dataBytes: number,
): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  let json: unknown;
  try {
    json = JSON.parse(header);
  } catch (e) {
    throw new CheckpointError(`header is not valid JSON: ${(e as Error).message}`, path);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new CheckpointError('header is not a JSON object', path);
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new CheckpointError('__metadata__ is not an object', path);
      // The format defines metadata as a string-to-string map; the reference reader rejects others.
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') throw new CheckpointError(`__metadata__ value of '${k}' is not a string`, path);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry))
      throw new CheckpointError('entry is not an object', path, name);
    const fileDtype = entry.dtype;
    if (typeof fileDtype !== 'string' || !(fileDtype in SAFETENSORS_DTYPES)) {
      throw new CheckpointError(`unsupported dtype ${JSON.stringify(fileDtype)}`, path, name);
    }
    const dtype = SAFETENSORS_DTYPES[fileDtype];
    const shape = entry.shape;
    if (!Array.isArray(shape) || shape.length > 8 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new CheckpointError(`invalid shape ${JSON.stringify(shape)}`, path, name);
    }
    const offs = entry.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new CheckpointError(`invalid data_offsets ${JSON.stringify(offs)}`, path, name);
    }
    const [begin, end] = offs as number[];
    if (end < begin) throw new CheckpointError(`data_offsets [${begin}, ${end}] are reversed`, path, name);
    if (end > dataBytes) throw new CheckpointError(`data_offsets end ${end} is past the data section (${dataBytes} bytes)`, path, name);
    // A product past 2^53 is inexact, but then it cannot equal a byte span that fits the file.
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    if (numel * DTYPE_SIZE[dtype] !== end - begin) {
      throw new CheckpointError(
        `shape [${shape.join(',')}] of ${fileDtype} needs ${numel * DTYPE_SIZE[dtype]} bytes but data_offsets span ${end - begin}`,
        path,
        name,
      );
    }
    tensors.set(name, { name, dtype, fileDtype, shape: shape as number[], begin, end });
  }
  const sorted = [...tensors.values()].filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) {
      throw new CheckpointError(`data overlaps tensor '${sorted[i - 1].name}'`, path, sorted[i].name);
    }
  }
  return { tensors, metadata };
}

export class SafetensorsFile {
  private mapping: BufferHandle | null;

  private constructor(
    readonly path: string,
    readonly tensors: Map<string, TensorInfo>,
    readonly metadata: Record<string, string>,
    private readonly dataStart: number,
    mapping: BufferHandle,
  ) {
    this.mapping = mapping;
  }

  /** populate: map every page now (a model's weights at load; see native/file_map.cc). */
  static open(path: string, opts: { populate?: boolean } = {}): SafetensorsFile {
    const { header, fileSize, headerLen } = readHeader(path);
    const dataStart = 8 + headerLen;
    const { tensors, metadata } = parseHeader(path, header, fileSize - dataStart);
    let mapping: BufferHandle;
    try {
      mapping = native.mapFile(path, opts.populate ?? false);
    } catch (e) {
      throw new CheckpointError((e as Error).message, path);
    }
    return new SafetensorsFile(path, tensors, metadata, dataStart, mapping);
  }

  get names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new CheckpointError('tensor not found', this.path, name);
    return t;
  }

  /** A zero-copy CPU view of the tensor's bytes (owned by the caller: dispose it). */
  get(name: string): Tensor {
    if (!this.mapping) throw new CheckpointError('file was closed', this.path, name);
    const t = this.info(name);
    return Tensor.fromBuffer(this.mapping, t.shape, t.dtype, this.dataStart + t.begin, 'cpu');
  }

  /** Drops this object's reference to the mapping; tensors already taken keep it alive. */
  /** `using f = SafetensorsFile.open(...)` closes the file when the block ends. */
  [Symbol.dispose](): void {
    this.close();
  }

  close(): void {
    this.mapping?.release();
    this.mapping = null;
  }
}

/** A tensor to write: its bytes as stored (little-endian), with the file's dtype name. */
export interface RawTensor {
  dtype: keyof typeof SAFETENSORS_DTYPES;
  shape: number[];
  data: ArrayBufferView;
}

/** The bytes of a safetensors file (header padded to 8 bytes); checks each tensor's byte count. `path` only names errors. */
export function encodeSafetensors(
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
  path = '<safetensors>',
): Buffer {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let off = 0;
  const blobs: Buffer[] = [];
  for (const [name, t] of entries) {
    if (!(t.dtype in SAFETENSORS_DTYPES)) throw new CheckpointError(`unsupported dtype ${t.dtype}`, path, name);
    const need = t.shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[SAFETENSORS_DTYPES[t.dtype]];
    if (t.data.byteLength !== need)
      throw new CheckpointError(`${t.data.byteLength} bytes do not fill shape [${t.shape.join(',')}] of ${t.dtype}`, path, name);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + need] };
    off += need;
    blobs.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  if (json.length % 8) json = Buffer.concat([json, Buffer.alloc(8 - (json.length % 8), 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...blobs]);
}

/** Writes a safetensors file (see `encodeSafetensors`). */
export function writeSafetensors(
  path: string,
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): void {
  writeFileSync(path, encodeSafetensors(tensors, metadata, path));
}
