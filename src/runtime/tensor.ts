// Tensor: shape, strides, dtype and device over a native buffer. Views share the buffer through
// one counted Storage (disposing a view never frees its base, nor the base a live view). Work on a
// tensor is queued on the native thread; reading data is the sync point.
import { getDefaultDevice } from './backend.js';
import { DTYPE_CODE, DTYPE_SIZE, hostArray, type DType, type Device, type HostArray } from './dtype.js';
import { ShapeError } from './errors.js';
import { native, type BufferHandle, type TensorDesc } from './native.js';
import { track } from './scope.js';

export type Shape = readonly number[];

export function numelOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

function checkShape(shape: Shape, what: string): void {
  if (shape.length > 8) throw new ShapeError(`${what}: at most 8 dimensions, got ${shape.length}`);
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError(`${what}: invalid dimension ${d} in [${shape.join(',')}]`);
  }
}

function normDim(dim: number, ndim: number, what: string): number {
  const d = dim < 0 ? dim + ndim : dim;
  if (d < 0 || d >= ndim) throw new ShapeError(`${what}: dim ${dim} out of range for rank ${ndim}`);
  return d;
}

const ARRAY_DTYPE = new Map<unknown, DType>([
  [Float32Array, 'f32'],
  [Int32Array, 'i32'],
  [BigInt64Array, 'i64'],
  [Uint8Array, 'u8'],
  [Int8Array, 'i8'],
]);

/**
 * One native buffer reference and the number of tensors (a base and its views) using it: a view
 * counts here instead of taking a native reference of its own, which cost an N-API object per
 * view (an LM decode step makes ~300 views).
 */
class Storage {
  refs = 1;
  constructor(readonly handle: BufferHandle) {}
}

export class Tensor implements Disposable {
  private storage: Storage | null;
  /** Optional name for parity dumps (see debug.ts). */
  name?: string;

  /** Internal: use the factories (empty, fromArray, ...) or ops. */
  constructor(
    storage: BufferHandle | Storage,
    readonly shape: number[],
    readonly strides: number[],
    readonly dtype: DType,
    readonly device: Device,
    readonly byteOffset = 0,
  ) {
    this.storage = storage instanceof Storage ? storage : new Storage(storage);
    track(this);
  }

  // ---- factories ----

  /** Uninitialised tensor; memory is allocated when the first kernel writes it. */
  static empty(shape: Shape, dtype: DType = 'f32', device: Device = getDefaultDevice()): Tensor {
    checkShape(shape, 'Tensor.empty');
    const bytes = numelOf(shape) * DTYPE_SIZE[dtype];
    return new Tensor(native.empty(bytes, device), [...shape], contiguousStrides(shape), dtype, device);
  }

  static full(shape: Shape, value: number, dtype: DType = 'f32', device: Device = getDefaultDevice()): Tensor {
    const t = Tensor.empty(shape, dtype, device);
    native.fill(t.desc(), value);
    return t;
  }

  static zeros(shape: Shape, dtype: DType = 'f32', device: Device = getDefaultDevice()): Tensor {
    return Tensor.full(shape, 0, dtype, device);
  }

  /**
   * Copies host data into a new tensor. `dtype` defaults from the array type; f16/bf16 data is
   * given as Uint16Array bits with an explicit dtype; plain number arrays become f32.
   */
  static fromArray(data: HostArray | ArrayLike<number>, shape: Shape, opts: { dtype?: DType; device?: Device } = {}): Tensor {
    checkShape(shape, 'Tensor.fromArray');
    let arr: ArrayBufferView;
    let dtype: DType;
    if (ArrayBuffer.isView(data)) {
      arr = data as ArrayBufferView;
      const inferred = ARRAY_DTYPE.get(data.constructor);
      dtype = opts.dtype ?? inferred ?? 'f32';
      if (data instanceof Uint16Array && opts.dtype !== 'f16' && opts.dtype !== 'bf16') {
        throw new ShapeError('Tensor.fromArray: Uint16Array data needs dtype f16 or bf16');
      }
      if (inferred && opts.dtype && opts.dtype !== inferred && !(data instanceof Uint8Array)) {
        throw new ShapeError(`Tensor.fromArray: ${data.constructor.name} cannot be stored as ${opts.dtype}`);
      }
    } else {
      dtype = opts.dtype ?? 'f32';
      arr =
        dtype === 'i32' ? Int32Array.from(data) : dtype === 'i64' ? BigInt64Array.from(Array.from(data, BigInt)) : Float32Array.from(data);
    }
    const n = numelOf(shape);
    if (arr.byteLength !== n * DTYPE_SIZE[dtype]) {
      throw new ShapeError(`Tensor.fromArray: ${arr.byteLength / DTYPE_SIZE[dtype]} elements do not fill shape [${shape.join(',')}]`);
    }
    const device = opts.device ?? getDefaultDevice();
    return new Tensor(native.fromHost(arr, device), [...shape], contiguousStrides(shape), dtype, device);
  }

  /** Wraps an existing buffer (e.g. a memory-mapped file) as a tensor; the handle is retained. */
  static fromBuffer(handle: BufferHandle, shape: Shape, dtype: DType, byteOffset = 0, device: Device = 'cpu'): Tensor {
    checkShape(shape, 'Tensor.fromBuffer');
    return new Tensor(handle.retain(), [...shape], contiguousStrides(shape), dtype, device, byteOffset);
  }

  // ---- properties ----

  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    return numelOf(this.shape);
  }
  get disposed(): boolean {
    return this.storage === null;
  }
  get isContiguous(): boolean {
    let expect = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== expect) return false;
      expect *= this.shape[i];
    }
    return true;
  }
  size(dim: number): number {
    return this.shape[normDim(dim, this.ndim, 'size')];
  }

  /** The descriptor passed to native ops. */
  desc(): TensorDesc {
    if (!this.storage) throw new ShapeError(`tensor${this.name ? ` '${this.name}'` : ''} was disposed`);
    return [this.storage.handle, this.byteOffset, DTYPE_CODE[this.dtype], this.shape, this.strides];
  }

  /** A new tensor sharing this buffer with the given geometry. */
  private view(shape: number[], strides: number[], byteOffset = this.byteOffset): Tensor {
    if (!this.storage) throw new ShapeError('view of a disposed tensor');
    this.storage.refs++;
    return new Tensor(this.storage, shape, strides, this.dtype, this.device, byteOffset);
  }

  dispose(): void {
    const st = this.storage;
    if (!st) return;
    this.storage = null;
    if (--st.refs === 0) st.handle.release();
  }

  /** `using t = ...` frees the tensor when the block ends. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  // ---- views (zero-copy) ----

  /** Same data, new shape. One dimension may be -1. Copies only when the layout requires it. */
  reshape(shape: Shape): Tensor {
    const s = [...shape];
    const neg = s.indexOf(-1);
    if (neg >= 0) {
      const rest = numelOf(s.filter((_, i) => i !== neg));
      s[neg] = rest === 0 ? 0 : this.numel / rest;
    }
    checkShape(s, 'reshape');
    if (numelOf(s) !== this.numel) {
      throw new ShapeError(`reshape: cannot view [${this.shape.join(',')}] as [${shape.join(',')}]`);
    }
    if (this.isContiguous) return this.view(s, contiguousStrides(s));
    const c = this.contiguous();
    const r = c.view(s, contiguousStrides(s));
    c.dispose();
    return r;
  }

  permute(dims: number[]): Tensor {
    if (dims.length !== this.ndim) throw new ShapeError(`permute: expected ${this.ndim} dims, got ${dims.length}`);
    const d = dims.map((x) => normDim(x, this.ndim, 'permute'));
    if (new Set(d).size !== d.length) throw new ShapeError(`permute: repeated dims [${dims.join(',')}]`);
    return this.view(
      d.map((i) => this.shape[i]),
      d.map((i) => this.strides[i]),
    );
  }

  transpose(a: number, b: number): Tensor {
    const dims = this.shape.map((_, i) => i);
    const x = normDim(a, this.ndim, 'transpose');
    const y = normDim(b, this.ndim, 'transpose');
    [dims[x], dims[y]] = [dims[y], dims[x]];
    return this.permute(dims);
  }

  /** Elements [start, end) along `dim` (negative indices count from the end), with a step. */
  slice(dim: number, start: number, end: number = Number.MAX_SAFE_INTEGER, step = 1): Tensor {
    const d = normDim(dim, this.ndim, 'slice');
    const n = this.shape[d];
    const clampIdx = (i: number) => Math.min(n, Math.max(0, i < 0 ? i + n : i));
    const s = clampIdx(start);
    const e = Math.max(s, clampIdx(end));
    if (!Number.isInteger(step) || step < 1) throw new ShapeError(`slice: step must be a positive integer, got ${step}`);
    const shape = [...this.shape];
    const strides = [...this.strides];
    shape[d] = Math.ceil((e - s) / step);
    strides[d] = this.strides[d] * step;
    return this.view(shape, strides, this.byteOffset + s * this.strides[d] * DTYPE_SIZE[this.dtype]);
  }

  /** `length` elements from `start` along `dim`, checked against the size. */
  narrow(dim: number, start: number, length: number): Tensor {
    const d = normDim(dim, this.ndim, 'narrow');
    if (start < 0 || length < 0 || start + length > this.shape[d]) {
      throw new ShapeError(`narrow: [${start}, ${start + length}) out of range for dim ${dim} of size ${this.shape[d]}`);
    }
    return this.slice(d, start, start + length);
  }

  /** Index `i` along `dim`, removing that dimension. */
  select(dim: number, i: number): Tensor {
    const d = normDim(dim, this.ndim, 'select');
    const idx = i < 0 ? i + this.shape[d] : i;
    if (idx < 0 || idx >= this.shape[d]) throw new ShapeError(`select: index ${i} out of range for size ${this.shape[d]}`);
    const shape = this.shape.filter((_, k) => k !== d);
    const strides = this.strides.filter((_, k) => k !== d);
    return this.view(shape, strides, this.byteOffset + idx * this.strides[d] * DTYPE_SIZE[this.dtype]);
  }

  unsqueeze(dim: number): Tensor {
    const d = dim < 0 ? dim + this.ndim + 1 : dim;
    if (d < 0 || d > this.ndim) throw new ShapeError(`unsqueeze: dim ${dim} out of range`);
    const shape = [...this.shape];
    const strides = [...this.strides];
    shape.splice(d, 0, 1);
    strides.splice(d, 0, d < this.ndim ? this.strides[d] * this.shape[d] : 1);
    return this.view(shape, strides);
  }

  squeeze(dim: number): Tensor {
    const d = normDim(dim, this.ndim, 'squeeze');
    if (this.shape[d] !== 1) throw new ShapeError(`squeeze: dim ${dim} has size ${this.shape[d]}, not 1`);
    return this.view(
      this.shape.filter((_, k) => k !== d),
      this.strides.filter((_, k) => k !== d),
    );
  }

  /** Broadcast view: size-1 dims (or new leading dims) repeat with stride 0. */
  expand(shape: Shape): Tensor {
    if (shape.length < this.ndim) throw new ShapeError(`expand: [${this.shape.join(',')}] to fewer dims [${shape.join(',')}]`);
    const lead = shape.length - this.ndim;
    const strides = shape.map((n, i) => {
      if (i < lead) return 0;
      const own = this.shape[i - lead];
      if (own === n) return this.strides[i - lead];
      if (own === 1) return 0;
      throw new ShapeError(`expand: cannot broadcast [${this.shape.join(',')}] to [${shape.join(',')}]`);
    });
    return this.view([...shape], strides);
  }

  // ---- copies ----

  /** A contiguous tensor with this data: a new view of the same buffer when already contiguous. */
  contiguous(): Tensor {
    if (this.isContiguous) return this.view(this.shape, contiguousStrides(this.shape));
    return this.copyTo(this.dtype, this.device);
  }

  /** Cast to another dtype (a new buffer; a view when the dtype is already right). */
  to(dtype: DType): Tensor {
    if (dtype === this.dtype) return this.contiguous();
    return this.copyTo(dtype, this.device);
  }

  /** Move to a device (weights are uploaded once this way). */
  toDevice(device: Device): Tensor {
    if (device === this.device) return this.contiguous();
    using src = this.contiguous();
    const host = native.readSync(src.desc());
    const bits = this.dtype === 'f16' || this.dtype === 'bf16' ? new Uint16Array(host) : hostArray(this.dtype, host);
    return Tensor.fromArray(bits, this.shape, { dtype: this.dtype, device });
  }

  private copyTo(dtype: DType, device: Device): Tensor {
    const out = Tensor.empty(this.shape, dtype, device);
    native.copy(this.desc(), out.desc());
    return out;
  }

  /** Writes `src` (same shape, any dtype) into this tensor or view. */
  assign(src: Tensor): this {
    native.copy(src.desc(), this.desc());
    return this;
  }

  // ---- reading back ----

  /** Reads the data once all queued work has run, into a fresh array the caller owns. f16/bf16 read as raw Uint16 bits. */
  async data(): Promise<HostArray> {
    using c = this.contiguous();
    return hostArray(this.dtype, await native.read(c.desc()));
  }

  /** Blocking form of data(): waits on the main thread. For tests, tools and small reads. */
  dataSync(): HostArray {
    using c = this.contiguous();
    return hostArray(this.dtype, native.readSync(c.desc()));
  }

  /** The values as float32 (floats are converted on the native side). */
  async toFloat32(): Promise<Float32Array> {
    if (this.dtype === 'f32') return (await this.data()) as Float32Array;
    using f = this.copyTo('f32', this.device);
    return (await f.data()) as Float32Array;
  }

  /** Floats as float32, integers as they are (ids, masks). */
  async toFloat32IfFloat(): Promise<HostArray> {
    return this.dtype === 'f16' || this.dtype === 'bf16' ? this.toFloat32() : this.data();
  }

  toFloat32Sync(): Float32Array {
    if (this.dtype === 'f32') return this.dataSync() as Float32Array;
    using f = this.copyTo('f32', this.device);
    return f.dataSync() as Float32Array;
  }

  toString(): string {
    return `Tensor(${this.name ? this.name + ', ' : ''}[${this.shape.join(',')}], ${this.dtype}, ${this.device})`;
  }
}
