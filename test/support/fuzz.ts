// Mutation fuzzing with fast-check for the parsers of outside input (docs/RELIABILITY.md): byte
// mutations of a valid file (bit flips, interesting integers written over header fields, cuts,
// insertions, deletions, duplicated runs) and tree mutations of a valid JSON document (values
// replaced by odd ones, keys dropped or added). A case passes when the parser returns or throws one
// of the typed errors it is allowed to, within a second; the counts are collected for the report.
// ACESTEP_FUZZ_RUNS scales the number of cases (default 1 = the CI size).
import fc from 'fast-check';

/** Cases per fuzz target: `base` times ACESTEP_FUZZ_RUNS. */
export function fuzzRuns(base: number): number {
  const k = Number(process.env.ACESTEP_FUZZ_RUNS ?? 1);
  return Math.max(1, Math.round(base * (Number.isFinite(k) && k > 0 ? k : 1)));
}

/** The fixed seed of a target, so a failure reproduces (override with ACESTEP_FUZZ_SEED). */
export function fuzzSeed(fallback: number): number {
  const s = Number(process.env.ACESTEP_FUZZ_SEED);
  return Number.isInteger(s) ? s : fallback;
}

const INTERESTING_U32 = [
  0, 1, 2, 3, 7, 8, 16, 32, 33, 255, 256, 999, 1000, 44100, 48000, 384000, 384001, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000,
  0xfffffffe, 0xffffffff,
];

export type ByteMutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'byte'; at: number; value: number }
  | { kind: 'u16' | 'u32'; at: number; value: number }
  | { kind: 'cut'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'repeat'; at: number; len: number; times: number };

/** A position: half the time inside the first `head` bytes, where the headers are. */
const position = (head: number) => fc.oneof(fc.nat(head - 1), fc.nat(1 << 24));

export function byteMutation(head = 64): fc.Arbitrary<ByteMutation> {
  const at = position(head);
  return fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at, bit: fc.nat(7) }),
    fc.record({ kind: fc.constant('byte' as const), at, value: fc.nat(255) }),
    fc.record({ kind: fc.constantFrom('u16' as const, 'u32' as const), at, value: fc.constantFrom(...INTERESTING_U32) }),
    fc.record({ kind: fc.constant('cut' as const), at }),
    fc.record({ kind: fc.constant('insert' as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ kind: fc.constant('delete' as const), at, len: fc.integer({ min: 1, max: 64 }) }),
    fc.record({ kind: fc.constant('repeat' as const), at, len: fc.integer({ min: 1, max: 256 }), times: fc.integer({ min: 2, max: 64 }) }),
  );
}

/** 1-6 mutations of a file. */
export const byteMutations = (head = 64) => fc.array(byteMutation(head), { minLength: 1, maxLength: 6 });

/** Applies the mutations to a copy of `seed`. */
export function mutateBytes(seed: Uint8Array, muts: readonly ByteMutation[]): Uint8Array {
  let b = Uint8Array.from(seed);
  for (const m of muts) {
    const at = b.length ? m.at % (b.length + 1) : 0;
    if (m.kind === 'flip' && at < b.length) b[at] ^= 1 << m.bit;
    else if (m.kind === 'byte' && at < b.length) b[at] = m.value;
    else if (m.kind === 'u16' || m.kind === 'u32') {
      const n = m.kind === 'u16' ? 2 : 4;
      for (let i = 0; i < n && at + i < b.length; i++) b[at + i] = (m.value >>> (8 * i)) & 0xff;
    } else if (m.kind === 'cut') b = b.slice(0, at);
    else if (m.kind === 'insert') b = concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    else if (m.kind === 'delete') b = concat([b.subarray(0, at), b.subarray(at + m.len)]);
    else if (m.kind === 'repeat') {
      const run = b.subarray(at, at + m.len);
      b = concat([b.subarray(0, at), ...Array.from({ length: m.times }, () => run), b.subarray(at)]);
    }
  }
  return b;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const ODD_VALUES: Json[] = [
  null,
  true,
  false,
  0,
  -1,
  1,
  1.5,
  -0.5,
  2 ** 31,
  2 ** 53,
  1e308,
  -1e308,
  '',
  'x',
  '1',
  '-1',
  'NaN',
  [],
  [0],
  [-1],
  [1.5],
  ['a'],
  {},
  { a: 1 },
  [[1, 2]],
];

export type JsonMutation =
  | { op: 'replace'; path: number; value: Json }
  | { op: 'delete'; path: number }
  | { op: 'add'; path: number; key: string; value: Json }
  | { op: 'wrap'; path: number };

export const jsonMutations = (keys: readonly string[]) =>
  fc.array(
    fc.oneof(
      fc.record({ op: fc.constant('replace' as const), path: fc.nat(), value: fc.constantFrom(...ODD_VALUES) }),
      fc.record({ op: fc.constant('delete' as const), path: fc.nat() }),
      fc.record({
        op: fc.constant('add' as const),
        path: fc.nat(),
        key: fc.constantFrom(...keys, '__proto__', 'constructor', 'x'),
        value: fc.constantFrom(...ODD_VALUES),
      }),
      fc.record({ op: fc.constant('wrap' as const), path: fc.nat() }),
    ),
    { minLength: 1, maxLength: 4 },
  );

/** Every [parent, key] of a JSON tree, in a stable order (arrays longer than 64 items sampled). */
function slots(root: Json): [Record<string, Json> | Json[], string | number][] {
  const out: [Record<string, Json> | Json[], string | number][] = [];
  const walk = (v: Json) => {
    if (Array.isArray(v)) {
      const step = Math.max(1, Math.floor(v.length / 64));
      for (let i = 0; i < v.length; i += step) {
        out.push([v, i]);
        walk(v[i]);
      }
    } else if (v && typeof v === 'object') {
      for (const k of Object.keys(v)) {
        out.push([v, k]);
        walk(v[k]);
      }
    }
  };
  walk(root);
  return out;
}

/** Applies tree mutations to a deep copy of `doc`. */
export function mutateJson<T>(doc: T, muts: readonly JsonMutation[]): unknown {
  let root = structuredClone(doc) as Json;
  for (const m of muts) {
    const s = slots(root);
    if (s.length === 0) {
      if (m.op === 'replace') root = m.value;
      continue;
    }
    const [parent, key] = s[m.path % s.length];
    const p = parent as Record<string | number, Json>;
    if (m.op === 'replace') p[key] = structuredClone(m.value);
    else if (m.op === 'wrap') p[key] = [p[key]];
    else if (m.op === 'delete') {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete p[key];
    } else {
      const target = p[key];
      if (target && typeof target === 'object' && !Array.isArray(target))
        Object.defineProperty(target, m.key, { value: structuredClone(m.value), enumerable: true, writable: true, configurable: true });
    }
  }
  return root;
}

export interface FuzzReport {
  cases: number;
  /** Inputs the parser accepted. */
  accepted: number;
  /** Inputs refused with an allowed typed error. */
  refused: number;
  slowestMs: number;
}

/**
 * Runs `property` on `runs` generated cases. `run` returns normally (accepted) or throws; a thrown
 * error must satisfy `typed`, and each case must take under `maxMs`. Failures carry the case.
 */
export async function fuzz<T>(
  arb: fc.Arbitrary<T>,
  run: (input: T) => unknown,
  typed: (e: unknown) => boolean,
  opts: { runs: number; seed: number; maxMs?: number },
): Promise<FuzzReport> {
  const report: FuzzReport = { cases: 0, accepted: 0, refused: 0, slowestMs: 0 };
  const maxMs = opts.maxMs ?? 1000;
  await fc.assert(
    fc.asyncProperty(arb, async (input) => {
      const t0 = performance.now();
      let threw: unknown = null;
      try {
        await run(input);
      } catch (e) {
        threw = e;
      }
      const ms = performance.now() - t0;
      report.cases++;
      report.slowestMs = Math.max(report.slowestMs, ms);
      if (ms > maxMs) throw new Error(`case took ${ms.toFixed(0)} ms (limit ${maxMs} ms)`);
      if (threw === null) report.accepted++;
      else if (typed(threw)) report.refused++;
      else throw new Error(`untyped failure: ${(threw as Error)?.stack ?? String(threw)}`);
    }),
    { numRuns: opts.runs, seed: opts.seed, endOnFailure: true },
  );
  return report;
}

/** One line per target for the CI log: cases, accepted, refused, slowest. */
export function logReport(target: string, r: FuzzReport): void {
  console.log(
    `fuzz ${target}: ${r.cases} cases, ${r.accepted} accepted, ${r.refused} refused with typed errors, slowest ${r.slowestMs.toFixed(1)} ms`,
  );
}
