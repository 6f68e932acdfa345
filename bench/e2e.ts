// End-to-end benchmark: generateMusic for a 30 s text2music song at the released model sizes,
// over the random real-size checkpoint root of scripts/make-random-checkpoints.ts (written on first
// use to $ACESTEP_E2E_CHECKPOINTS, default <tmpdir>/acestep-e2e-random, ~11 GB). Scenarios:
//   nothink     DiT turbo 8 steps + text encoder + condition encoder + VAE decode (thinking off)
//   think-0.6B  the same after the 5 Hz LM 0.6B plans 150 codes (thinking on)
//   think-1.7B  the same with the 1.7B LM
//   nothink-240s  thinking off for a 240 s song (6000 latent frames), bf16 only: wall, CPU and peaks
// Each 30 s scenario runs at GEMM precision fp32 and bf16 (the engine's `precision`) and as int8 (the
// DiT quantized, `quantization: 'w8a8_dynamic'`, and the LM's weights int8, `lmQuantization: 'int8'`,
// at precision 'auto': bf16 where the CPU has avx512_bf16, fp32 where bf16 would only add rounding
// work), each run in a fresh child process
// (`node e2e.js --child <scenario> <root> <threads> <variant>`)
// so peak RSS and the native allocator's peak belong to that scenario alone. Rows are in audio
// seconds per wall second; the reference is the scenario's target for a 30 s song. Extra fields carry
// the wall and CPU seconds (process.cpuUsage covers the native worker threads), the stage times of
// the result's timeCosts, LM token counts, peaks and the 1-minute load average at start and end.
// The random LM would write an unbounded free-text caption, so use_cot_caption is off: Phase 1
// writes the metadata fields only, and its per-token rate is reported for extrapolation.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AceStep } from '../src/pipeline/engine.js';
import { generateMusic } from '../src/pipeline/generate.js';
import { native } from '../src/runtime/native.js';
import type { MatmulPrecision } from '../src/runtime/index.js';
import { makeRandomCheckpoints } from '../scripts/make-random-checkpoints.js';
import { ratioOf, wanted, type BenchContext, type BenchRow, type Suite } from './suite.js';

export const SONG_SECONDS = 30;
/** Upstream Python (its CPU dtype, fp32) on this kind of 2-core machine, thinking off (2026-12-06). */
export const UPSTREAM_CPU_SECONDS = 131;
/** An engine setting: a GEMM precision, or int8 = precision auto with the DiT W8A8 and the LM's weights int8. */
type Variant = MatmulPrecision | 'int8';
const VARIANTS: Variant[] = ['fp32', 'bf16', 'int8'];

// target: wall seconds for the song on 2 threads (null: none set; measured for its time and peaks).
// precisions: the long song runs at the engine's default on this kind of CPU only.
const SCENARIOS: Record<string, { lm: string | null; seconds: number; target: number | null; precisions: Variant[] }> = {
  nothink: { lm: null, seconds: SONG_SECONDS, target: 25, precisions: VARIANTS },
  'think-0.6B': { lm: 'acestep-5Hz-lm-0.6B', seconds: SONG_SECONDS, target: 32, precisions: VARIANTS },
  'think-1.7B': { lm: 'acestep-5Hz-lm-1.7B', seconds: SONG_SECONDS, target: 40, precisions: VARIANTS },
  'nothink-240s': { lm: null, seconds: 240, target: null, precisions: ['bf16'] },
};
type Scenario = keyof typeof SCENARIOS;

export const CAPTION =
  'An upbeat synth-pop track with punchy drums, warm analog bass, bright arpeggiated synths and a catchy female vocal.';
export const LYRICS = [
  '[Verse]',
  'City lights are calling out my name',
  'Every street a spark, every night a flame',
  'We run until the morning paints the sky',
  '[Chorus]',
  'Hold on, hold on, we are alive tonight',
  'Hold on, hold on, we are burning bright',
].join('\n');

export interface E2eResult {
  scenario: Scenario;
  precision: Variant;
  threads: number;
  loadSeconds: number;
  wallSeconds: number;
  cpuSeconds: number;
  timeCosts: Record<string, number>;
  lmTokens: { phase1: number; phase2: number };
  latentFrames: number;
  audioSeconds: number;
  audioRms: number;
  peakRssGiB: number;
  nativePeakGiB: number;
  load1Start: number;
  load1End: number;
  success: boolean;
  error: string | null;
  /** bf16 / int8 rows: cosine of the decoded audio against the fp32 run of the same scenario. */
  audioCosineVsFp32?: number;
}

/** Where a child leaves its decoded audio (f32, channels concatenated) for the fp32/bf16 comparison. */
function audioPath(root: string, scenario: Scenario, precision: Variant): string {
  return join(tmpdir(), `acestep-e2e-${scenario}-${precision}-${root.replace(/[^A-Za-z0-9]/g, '_').slice(-40)}.f32`);
}

function cosine(a: Float32Array, b: Float32Array): number {
  let d = 0,
    na = 0,
    nb = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    d += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return d / Math.sqrt(na * nb);
}

/** One scenario in this process: load the engine, generate once, measure. */
export async function runScenario(scenario: Scenario, root: string, threads: number, precision: Variant): Promise<E2eResult> {
  native.setNumThreads(threads);
  const load1Start = loadavg()[0];
  const tLoad = performance.now();
  const engine = await AceStep.load({
    checkpoints: root,
    lmModel: SCENARIOS[scenario].lm,
    preloadLm: SCENARIOS[scenario].lm !== null,
    precision: precision === 'int8' ? 'auto' : precision,
    quantization: precision === 'int8' ? 'w8a8_dynamic' : 'none',
    lmQuantization: precision === 'int8' ? 'int8' : 'none',
  });
  const loadSeconds = (performance.now() - tLoad) / 1000;
  const lmTokens = { phase1: 0, phase2: 0 };
  try {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await generateMusic(
      engine,
      {
        taskType: 'text2music',
        caption: CAPTION,
        lyrics: LYRICS,
        vocalLanguage: 'en',
        duration: SCENARIOS[scenario].seconds,
        thinking: SCENARIOS[scenario].lm !== null,
        useCotCaption: false,
        inferenceSteps: 8,
        seed: 42,
      },
      { batchSize: 1, useRandomSeed: false, seeds: [42] },
      {
        onProgress: (e) => {
          if (e.stage === 'lm')
            lmTokens[e.phase === 1 ? 'phase1' : 'phase2'] = Math.max(lmTokens[e.phase === 1 ? 'phase1' : 'phase2'], e.step + 1);
        },
      },
    );
    const wallSeconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const ch = r.audios[0]?.channels ?? [];
    const all = new Float32Array(ch.reduce((k, c) => k + c.length, 0));
    ch.reduce((at, c) => (all.set(c, at), at + c.length), 0);
    writeFileSync(audioPath(root, scenario, precision), all);
    let ss = 0,
      n = 0;
    for (const c of ch) for (let i = 0; i < c.length; i++, n++) ss += c[i] * c[i];
    return {
      scenario,
      precision,
      threads: native.numThreads(),
      loadSeconds,
      wallSeconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      timeCosts: r.extraOutputs.timeCosts,
      lmTokens,
      latentFrames: r.extraOutputs.latentFrames,
      audioSeconds: ch.length ? ch[0].length / engine.sampleRate : 0,
      audioRms: n ? Math.sqrt(ss / n) : NaN,
      // maxRSS is in KiB; it includes the touched pages of the memory-mapped weights.
      peakRssGiB: process.resourceUsage().maxRSS / 2 ** 20,
      nativePeakGiB: native.memoryStats().cpu.peak / 2 ** 30,
      load1Start,
      load1End: loadavg()[0],
      success: r.success,
      error: r.error,
    };
  } finally {
    engine.dispose();
  }
}

/** The checkpoint root, written on first use (both LM sizes). */
export function ensureCheckpoints(log: (m: string) => void): string {
  const root = resolve(process.env.ACESTEP_E2E_CHECKPOINTS ?? join(tmpdir(), 'acestep-e2e-random'));
  const need = ['acestep-v15-turbo', 'Qwen3-Embedding-0.6B', 'acestep-5Hz-lm-0.6B', 'acestep-5Hz-lm-1.7B'].map((d) =>
    join(root, d, 'model.safetensors'),
  );
  if (!need.every((p) => existsSync(p)) || !existsSync(join(root, 'vae', 'diffusion_pytorch_model.safetensors'))) {
    log(`e2e: writing real-size random checkpoints to ${root} (~11 GB, a few minutes)`);
    makeRandomCheckpoints(root, ['0.6B', '1.7B'], log);
  }
  return root;
}

/** `e2e.text2music.<song seconds>s.<scenario without its length suffix>`. */
function rowName(s: Scenario): string {
  return `e2e.text2music.${SCENARIOS[s].seconds}s.${s.replace(/-\d+s$/, '')}`;
}

function row(r: E2eResult): BenchRow {
  const { target, seconds } = SCENARIOS[r.scenario];
  const ours = seconds / r.wallSeconds,
    ref = target === null ? null : seconds / target;
  return {
    name: rowName(r.scenario),
    shape: `${r.latentFrames} frames, ${r.threads} thr`,
    dtype: r.precision === 'int8' ? 'int8 (DiT w8a8, LM int8)' : r.precision === 'bf16' ? 'bf16w-bf16' : 'bf16w-f32',
    ours,
    unit: 'x realtime',
    reference:
      target === null
        ? `no target: wall, CPU and peak memory of a ${seconds} s song`
        : `target ${target} s per ${seconds} s song (upstream CPU ${UPSTREAM_CPU_SECONDS} s)`,
    ref,
    ratio: ratioOf(ours, ref),
    ...r,
  };
}

async function run(ctx: BenchContext, emit: (r: BenchRow) => void): Promise<void> {
  const names = (Object.keys(SCENARIOS) as Scenario[]).filter((s) => wanted(ctx, rowName(s)) && (!ctx.quick || s === 'nothink'));
  if (names.length === 0) return;
  const root = ensureCheckpoints(ctx.log);
  const self = fileURLToPath(import.meta.url);
  for (const s of names) {
    for (const p of SCENARIOS[s].precisions) {
      ctx.log(
        `e2e: ${s} ${p} (load average ${loadavg()
          .map((x) => x.toFixed(2))
          .join(' ')})`,
      );
      // Children inherit the environment (ACESTEP_ADDON); their stdout is one JSON line.
      const out = execFileSync(process.execPath, [self, '--child', s, root, String(ctx.threads), p], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 1 << 20,
      });
      const r = JSON.parse(out.trim().split('\n').pop()!) as E2eResult;
      if (!r.success) throw new Error(`e2e ${s} ${p}: generation failed: ${r.error}`);
      if (p !== 'fp32' && existsSync(audioPath(root, s, 'fp32'))) {
        const read = (q: Variant) => new Float32Array(new Uint8Array(readFileSync(audioPath(root, s, q))).buffer);
        r.audioCosineVsFp32 = cosine(read(p), read('fp32'));
      }
      emit(row(r));
    }
    for (const p of SCENARIOS[s].precisions) rmSync(audioPath(root, s, p), { force: true });
  }
}

export function suites(): Suite[] {
  return [{ name: 'e2e', run }];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url) && process.argv[2] === '--child') {
  const [scenario, root, threads, precision = 'bf16'] = process.argv.slice(3);
  if (!(scenario in SCENARIOS) || !root || !VARIANTS.includes(precision as Variant)) {
    process.stderr.write(`usage: e2e --child <${Object.keys(SCENARIOS).join('|')}> <checkpoint-root> [threads] [fp32|bf16|int8]\n`);
    process.exit(2);
  }
  runScenario(scenario as Scenario, root, Number(threads) || 2, precision as Variant).then(
    (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
    (e) => {
      process.stderr.write(`e2e child failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}
