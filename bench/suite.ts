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
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
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

/**
 * A /usr/bin/python3 torch worker for references timed in alternation with ours: `script` gets the
 * thread count as argv[1], prints {"version", "threads"} first, then answers one JSON line per
 * JSON request line (a {"op": "time", "batch": n} request answers {"wall", "cpu"} seconds).
 */
export class TorchWorker {
  private readonly waiting: ((line: string | null) => void)[] = [];
  private readonly lines: string[] = [];
  private closed = false;
  label = '';

  private constructor(private readonly proc: ChildProcessWithoutNullStreams) {
    createInterface({ input: proc.stdout }).on('line', (l) => {
      const w = this.waiting.shift();
      if (w) w(l);
      else this.lines.push(l);
    });
    proc.on('close', () => {
      this.closed = true;
      for (const w of this.waiting.splice(0)) w(null);
    });
  }

  private next(): Promise<string | null> {
    if (this.lines.length) return Promise.resolve(this.lines.shift() as string);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  async request(msg: object): Promise<Record<string, number>> {
    this.proc.stdin.write(`${JSON.stringify(msg)}\n`);
    const l = await this.next();
    if (l === null) throw new Error('torch worker exited');
    return JSON.parse(l) as Record<string, number>;
  }

  /** The worker, or why there is none. */
  static async start(script: string, threads: number, what: string): Promise<TorchWorker | string> {
    const env = { ...process.env };
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    const proc = spawn('/usr/bin/python3', ['-c', script, String(threads)], { env, stdio: 'pipe' });
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += String(d)));
    const worker = new TorchWorker(proc);
    const failed = new Promise<null>((resolve) => proc.on('error', () => resolve(null)));
    const head = await Promise.race([worker.next(), failed]);
    if (head === null) {
      proc.kill();
      return `torch reference unavailable (${stderr.trim().split('\n').slice(-1)[0] || 'python3 failed'})`;
    }
    const h = JSON.parse(head) as { version: string; threads: number };
    worker.label = `torch ${h.version} ${what}, ${h.threads} thr`;
    return worker;
  }

  close(): void {
    this.proc.stdin.end();
  }
}

/** Best batch average (wall seconds per call) and mean process CPU seconds per call. */
export interface Timing {
  best: number;
  cpu: number;
}

/** Times one batch of ours: wall and process CPU seconds (all our threads). */
export function oursBatch(call: () => void, batch: number): { wall: number; cpu: number } {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < batch; i++) call();
  native.syncBlocking();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1e6 };
}

export type Side = (batch: number) => Promise<{ wall: number; cpu: number }>;

/**
 * The sides (ours, and the reference last) in alternating rounds of `batch` calls each, the order
 * rotating every round, at least 3 rounds and until every side has run `minSeconds`: the same
 * phase of the machine's load for all, and the same statistic for all (best batch average; CPU
 * seconds per call over all rounds).
 */
export async function timeAlternating(sides: Side[], batch: number, minSeconds: number): Promise<Timing[]> {
  const acc = sides.map(() => ({ best: Infinity, cpu: 0, wall: 0, calls: 0 }));
  for (let round = 0; round < 1000; round++) {
    for (let n = 0; n < sides.length; n++) {
      const i = (n + round) % sides.length;
      const r = await sides[i](batch);
      const a = acc[i];
      a.best = Math.min(a.best, r.wall / batch);
      a.cpu += r.cpu;
      a.wall += r.wall;
      a.calls += batch;
    }
    if (round >= 2 && acc.every((a) => a.wall >= minSeconds)) break;
  }
  return acc.map((a) => ({ best: a.best, cpu: a.cpu / a.calls }));
}
