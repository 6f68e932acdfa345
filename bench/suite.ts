// The benchmark plugin interface. Every module in bench/ that exports `suites(): Suite[]` is
// discovered by bench/run.ts (no central list to edit). A suite measures our kernels and, in the
// same run, a reference on the same shapes, and emits one BenchRow per measurement:
//
//   export function suites(): Suite[] {
//     return [{ name: 'softmax', async run(ctx, emit) { ...; emit({ name, shape, dtype, ours, unit,
//       reference, ref, ratio: ratioOf(ours, ref) }); } }];
//   }
//
// `ours` and `ref` are throughputs in `unit` (higher is better), so ratio = ours / ref and > 1
// means we are faster. ref is null (and ratio null) when no reference could be measured; the row's
// `reference` then says why. Suites honour ctx.quick (fewer shapes / shorter timing) and
// ctx.filter (a RegExp on row names; skip work whose rows would all be filtered out).
import { native } from '../src/runtime/native.js';

export interface BenchRow {
  name: string;
  shape: string;
  dtype: string;
  ours: number;
  /** 'x realtime': audio seconds per wall second (end-to-end suites); 'runs/s': whole stages per second. */
  unit: 'GFLOP/s' | 'GB/s' | 'x realtime' | 'runs/s';
  /** What `ref` measures, e.g. "torch 1.13 F.linear (oneDNN)". */
  reference: string;
  ref: number | null;
  ratio: number | null;
  [extra: string]: unknown;
}

export interface BenchContext {
  quick: boolean;
  filter: RegExp | null;
  threads: number;
  /** Progress and notes go to stderr so stdout stays one JSON object per line. */
  log(msg: string): void;
  /** Minimum measuring time per timed variant, in seconds. */
  minSeconds: number;
}

export interface Suite {
  name: string;
  run(ctx: BenchContext, emit: (row: BenchRow) => void): Promise<void>;
}

export function ratioOf(ours: number, ref: number | null): number | null {
  return ref === null || !(ref > 0) ? null : ours / ref;
}

export function wanted(ctx: BenchContext, name: string): boolean {
  return ctx.filter === null || ctx.filter.test(name);
}

/**
 * Best seconds per call of `fn`, which enqueues native work. Calls are issued in batches of
 * `batch` and synchronised once per batch, so per-call queue latency is amortised the same way
 * for every variant; the best batch over at least `minSeconds` is kept.
 */
export function timeQueued(fn: () => void, minSeconds: number, batch = 1): number {
  fn();
  native.syncBlocking();
  let best = Infinity,
    spent = 0,
    rounds = 0;
  // At least 2 batches, up to 5 while they stay short: the best one is what a quiet machine does.
  while (rounds < 2 || (rounds < 5 && spent < 3) || spent < minSeconds) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn();
    native.syncBlocking();
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    best = Math.min(best, dt / batch);
    spent += dt;
    rounds++;
    if (rounds > 1000) break;
  }
  return best;
}

/**
 * Best seconds per call of each function, measured in alternating batches so that all of them
 * see the same background load (for ratios between two of our own kernels, e.g. GEMV against a
 * streaming read of the same bytes).
 */
export function timeInterleaved(fns: (() => void)[], minSeconds: number, batch = 1): number[] {
  const best = fns.map(() => Infinity);
  for (const f of fns) f();
  native.syncBlocking();
  let spent = 0,
    rounds = 0;
  while (rounds < 3 || (rounds < 8 && spent < 3) || spent < minSeconds) {
    fns.forEach((f, i) => {
      const t0 = process.hrtime.bigint();
      for (let r = 0; r < batch; r++) f();
      native.syncBlocking();
      const dt = Number(process.hrtime.bigint() - t0) / 1e9;
      best[i] = Math.min(best[i], dt / batch);
      spent += dt;
    });
    rounds++;
    if (rounds > 1000) break;
  }
  return best;
}

/** Deterministic uniform values (xorshift32) with the variance of N(0, scale^2): bench weights and inputs. */
export function randomValues(n: number, scale: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  const a = scale * Math.sqrt(3);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 * a;
  }
  return out;
}
