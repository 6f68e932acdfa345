// The native addon's exports, every one typed (native/*.cc registers them with ACESTEP_EXPORT; the
// comment beside each C++ export gives the same argument order). Tensors cross as TensorDesc;
// integer codes (dtype, op, precision) match the enums in kernels/cpu/*.h.

/** Opaque native reference to a Buffer (see native/tensor_arg.h). */
export interface BufferHandle {
  release(): void;
  retain(): BufferHandle;
  readonly bytes: number;
  readonly device: AddonDevice | null;
}

/** The descriptor every native op takes for a tensor argument. */
/** [buffer, byte offset, dtype code, shape, strides in elements]: an array, which the addon reads by index (no property lookups). */
export type TensorDesc = [b: BufferHandle, o: number, d: number, s: readonly number[], t: readonly number[]];

export type AddonDevice = 'cpu' | 'cuda';

/** Which CPU kernels queued ops run: the fast SIMD paths or the scalar references. */
export type CpuImpl = 'fast' | 'reference';

/** CPU kernel families with their own vector-ISA dispatch (see native/cpu_isa.cc). */
export type CpuKernelFamily = 'gemm' | 'attention' | 'pointwise';

/**
 * Vector ISA levels shared by every CPU kernel family: 'scalar' is portable C++ without explicit
 * SIMD; 'avx512bf16' adds vdpbf16ps for bf16-precision GEMMs; 'auto' is the best the CPU has.
 */
export type CpuIsa = 'scalar' | 'avx2' | 'avx512' | 'avx512bf16';

export interface DeviceMemory {
  inUse: number;
  peak: number;
  limit: number;
}

/** A possibly absent tensor argument. */
type Opt = TensorDesc | null;

export interface Addon {
  // ---- buffers, transfers and sync points (native/addon.cc, native/file_map.cc) ----
  empty(bytes: number, device: AddonDevice): BufferHandle;
  fromHost(data: ArrayBufferView, device: AddonDevice): BufferHandle;
  mapFile(path: string, populate?: boolean): BufferHandle;
  read(t: TensorDesc): Promise<ArrayBuffer>;
  readSync(t: TensorDesc): ArrayBuffer;
  sync(): Promise<void>;
  syncBlocking(): void;

  // ---- memory, threads and kernel selection ----
  memoryStats(): { cpu: DeviceMemory; cuda: DeviceMemory; queued: number; cpuCached: number };
  setMemoryLimit(device: AddonDevice, bytes: number): void;
  releaseCachedMemory(): number;
  setCpuCacheLimit(bytes: number): void;
  setNumThreads(n: number): void;
  numThreads(): number;
  setCpuImpl(impl: CpuImpl): void;
  /** Caps one family's CPU fast paths at an ISA level; returns the level now in effect. */
  setCpuIsa(family: CpuKernelFamily, isa: CpuIsa | 'auto'): CpuIsa;
  cpuFeatures(): { avx2: boolean; fma: boolean; f16c: boolean; avx512f: boolean; avx512bf16: boolean; avx512vnni: boolean };

  // ---- CUDA (native/backend_cuda.cc); graphs need ACESTEP_CUDA_GRAPHS=1 ----
  cudaInfo(): { compiled: boolean; available: boolean; status: string };
  cudaGraphBegin(): void;
  cudaGraphEnd(): number;
  cudaGraphLaunch(handle: number): void;
  cudaGraphDestroy(handle: number): void;

  // ---- ops: outputs are preallocated by the TS wrappers; calls queue and return at once ----
  copy(src: TensorDesc, out: TensorDesc): void;
  fill(out: TensorDesc, value: number): void;
  unary(x: TensorDesc, out: TensorDesc, op: number, p0: number, p1: number): void;
  binary(a: TensorDesc, b: TensorDesc, out: TensorDesc, op: number): void;
  ternary(a: TensorDesc, b: TensorDesc, c: TensorDesc, out: TensorDesc, op: number): void;
  linear(x: TensorDesc, w: TensorDesc, bias: Opt, out: TensorDesc, precision: number): void;
  matmul(a: TensorDesc, b: TensorDesc, out: TensorDesc, precision: number): void;
  quantizeInt8(w: TensorDesc, q: TensorDesc, scale: TensorDesc): void;
  linearInt8(x: TensorDesc, q: TensorDesc, scale: TensorDesc, bias: Opt, out: TensorDesc, precision: number): void;
  attention(
    q: TensorDesc,
    k: TensorDesc,
    v: TensorDesc,
    keyMask: Opt,
    out: TensorDesc,
    scale: number,
    causal: boolean,
    qOffset: number,
    window: number,
    precision: number,
  ): void;
  conv1d(
    x: TensorDesc,
    w: TensorDesc,
    bias: Opt,
    out: TensorDesc,
    stride: number,
    padding: number,
    dilation: number,
    groups: number,
    residual: Opt,
    precision: number,
    cacheWeight: boolean,
    snakeAlpha: Opt,
    snakeBeta: Opt,
    snakeLogScale: boolean,
  ): void;
  convTranspose1d(
    x: TensorDesc,
    w: TensorDesc,
    bias: Opt,
    out: TensorDesc,
    stride: number,
    padding: number,
    outputPadding: number,
    dilation: number,
    precision: number,
    cacheWeight: boolean,
    snakeAlpha: Opt,
    snakeBeta: Opt,
    snakeLogScale: boolean,
  ): void;
  snake(x: TensorDesc, alpha: TensorDesc, beta: TensorDesc, out: TensorDesc, logScale: boolean): void;
  rmsNorm(x: TensorDesc, weight: Opt, out: TensorDesc, eps: number): void;
  layerNorm(x: TensorDesc, weight: Opt, bias: Opt, out: TensorDesc, eps: number): void;
  rope(x: TensorDesc, cos: TensorDesc, sin: TensorDesc, out: TensorDesc): void;
  softmax(x: TensorDesc, out: TensorDesc, log: boolean): void;
  reduce(x: TensorDesc, out: TensorDesc, op: number, outer: number, n: number, inner: number): void;
  argmax(x: TensorDesc, out: TensorDesc, outer: number, n: number, inner: number): void;
  embedding(weight: TensorDesc, ids: TensorDesc, out: TensorDesc): void;
  randn(out: TensorDesc, seed: number, offset: number): void;
  repetitionPenalty(logits: TensorDesc, previous: TensorDesc, out: TensorDesc, penalty: number): void;
  cfgCombine(cond: TensorDesc, uncond: TensorDesc, out: TensorDesc, scale: number): void;
  topK(logits: TensorDesc, out: TensorDesc, k: number): void;
  topP(logits: TensorDesc, out: TensorDesc, p: number): void;
  sampleRace(logits: TensorDesc, out: TensorDesc, seed: number, step: number): void;

  // ---- benchmark probes (bench/) ----
  /** out [1] f32 = sum of t's bytes read as f32 words (a bandwidth probe). */
  int8RowSums(q: TensorDesc, out: TensorDesc): void;
  linearW8A8(x: TensorDesc, q: TensorDesc, scale: TensorDesc, rowsum: TensorDesc, bias: Opt, out: TensorDesc): void;
  streamRead(t: TensorDesc, out: TensorDesc): void;
  /** out [1] f32 = measured FMA GFLOP/s on all pool threads ('' = the CPU's best ISA). */
  peakGflops(out: TensorDesc, seconds: number, isa: '' | 'avx512' | 'avx2'): void;
}
