// Text + condition encoding of the e2e workload (bench/e2e.ts's 30 s text2music song, thinking off):
// the pipeline's condition stage (src/pipeline/stages/conditions.ts) over the real-size random
// checkpoint root: caption prompt through the Qwen3-Embedding-0.6B text encoder, lyric ids through
// its embedding table, then the condition encoder (text projector, 8-layer lyric encoder, 4-layer
// timbre encoder over the 750-frame silence reference, packing). Timed in this process per
// precision: the first call of a fresh engine (it encodes the silence reference's timbre) and the
// best later call (the engine keeps that embedding), wall and CPU seconds, plus the parts alone and
// the timbre encoder as every call ran it before (all 750 rows through all 4 layers).
// Reference: the same three encoders written plainly in torch at the same shapes
// (bench/encoders_torch.py), bf16 and f32, every timbre row as upstream computes it.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AceStep } from '../src/pipeline/engine.js';
import { resolveConfig, resolveParams } from '../src/pipeline/params.js';
import { initialItems } from '../src/pipeline/task-assembly.js';
import { ditCaptionPrompt, ditLyricsPrompt, formatMetas, DEFAULT_DIT_INSTRUCTION } from '../src/pipeline/conditioning/prompts.js';
import { captionIds, lyricIds } from '../src/pipeline/conditioning/text-conditioning.js';
import { snapshotAdapters } from '../src/pipeline/stages/adapters.js';
import { encodeConditions } from '../src/pipeline/stages/conditions.js';
import { encodeInputAudio } from '../src/pipeline/stages/input-audio.js';
import { assembleTask, planTask } from '../src/pipeline/stages/task.js';
import type { RunContext } from '../src/pipeline/stages/context.js';
import { flush, tidy, Tensor, type MatmulPrecision } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { CAPTION, ensureCheckpoints, LYRICS, SONG_SECONDS } from './e2e.js';
import { ratioOf, wanted, type BenchContext, type BenchRow, type Suite } from './suite.js';

interface Timing {
  wall: number;
  cpu: number;
}

interface TorchTimes {
  text: Timing;
  lyric: Timing;
  timbre: Timing;
  total: Timing;
}

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** Wall and CPU seconds of `fn` including the native work it queued. */
async function timed(fn: () => unknown): Promise<Timing> {
  await flush();
  const t0 = performance.now(),
    c0 = cpuSeconds();
  await fn();
  await flush();
  return { wall: (performance.now() - t0) / 1000, cpu: cpuSeconds() - c0 };
}

/** The e2e nothink run's context up to the condition stage (no LM, no input audio). */
async function stageRun(engine: AceStep): Promise<() => Promise<void>> {
  const p = resolveParams({
    taskType: 'text2music',
    caption: CAPTION,
    lyrics: LYRICS,
    vocalLanguage: 'en',
    duration: SONG_SECONDS,
    thinking: false,
    useCotCaption: false,
    inferenceSteps: 8,
    seed: 42,
  });
  const c = resolveConfig({ batchSize: 1, useRandomSeed: false, seeds: [42] });
  const silence = { data: await engine.silenceLatent.toFloat32(), frames: engine.silenceLatent.shape[1], C: engine.silenceLatent.shape[2] };
  const ctx: RunContext = {
    engine,
    p,
    c,
    seeds: [42],
    opts: {},
    timeCosts: {},
    silence,
    adapters: snapshotAdapters(engine, p),
    warnings: [],
  };
  const input = await encodeInputAudio(ctx);
  const items = initialItems(p, ctx.seeds);
  const layout = planTask(ctx, items, input);
  return async () => {
    const task = await assembleTask(ctx, items, layout, input);
    try {
      (await encodeConditions(ctx, task, input.reference)).dispose();
    } finally {
      task.dispose();
    }
  };
}

/** Our stage at one precision: first call, best later call, and the parts alone. */
async function measureOurs(root: string, precision: MatmulPrecision, reps: number) {
  const engine = await AceStep.load({ checkpoints: root, lmModel: null, precision });
  try {
    const run = await stageRun(engine);
    const load1 = loadavg()[0];
    const first = await timed(run);
    let warm: Timing = { wall: Infinity, cpu: Infinity };
    for (let i = 0; i < reps; i++) {
      const t = await timed(run);
      if (t.wall < warm.wall) warm = t;
    }
    // The parts alone at the stage's shapes (best of reps), for the breakdown.
    const tok = engine.textTokenizer;
    const cap = captionIds(tok, ditCaptionPrompt(DEFAULT_DIT_INSTRUCTION, CAPTION, formatMetas({ duration: SONG_SECONDS })));
    const lyr = lyricIds(tok, ditLyricsPrompt('en', LYRICS));
    const capT = Tensor.fromArray(Int32Array.from(cap), [1, cap.length], { device: engine.device });
    const lyrT = Tensor.fromArray(Int32Array.from(lyr), [1, lyr.length], { device: engine.device });
    const emb = engine.textEncoder.embed(lyrT);
    const refs = Tensor.zeros([1, Math.round(30 * engine.frameRate), engine.silenceLatent.shape[2]], 'f32', engine.device);
    const best = async (fn: () => Tensor) => {
      let b: Timing = { wall: Infinity, cpu: Infinity };
      for (let i = 0; i < reps; i++) {
        const t = await timed(() => fn().dispose());
        if (t.wall < b.wall) b = t;
      }
      return b;
    };
    const parts = {
      text: await best(() => engine.textEncoder.forward(capT)),
      lyric: await best(() => engine.conditionEncoder.encodeLyrics(emb, new Array<number>(lyr.length).fill(1))),
      timbre: await best(() => engine.conditionEncoder.encodeTimbre(refs)),
      // What every call paid before (every row through the whole stack, no cache), for the ratio.
      timbreAllRows: await best(() =>
        tidy(() => {
          const ce = engine.conditionEncoder;
          return ce.timbreEncoder.forward(ce.timbreEmbed.forward(refs)).select(1, 0);
        }),
      ),
    };
    for (const t of [capT, lyrT, emb, refs]) t.dispose();
    return { first, warm, parts, ids: { caption: cap.length, lyrics: lyr.length }, load1Start: load1, load1End: loadavg()[0] };
  } finally {
    engine.dispose();
  }
}

function torchTimes(caption: number, lyrics: number, threads: number, dtype: 'bf16' | 'f32'): TorchTimes | null {
  const py = '/usr/bin/python3';
  const script = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'encoders_torch.py');
  const alt = join(dirname(fileURLToPath(import.meta.url)), 'encoders_torch.py');
  const path = existsSync(script) ? script : alt;
  if (!existsSync(py) || !existsSync(path)) return null;
  try {
    execFileSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  const text = execFileSync(py, [path, `caption=${caption}`, `lyrics=${lyrics}`, `threads=${threads}`, `dtype=${dtype}`, 'reps=2'], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  const r = JSON.parse(text.trim().split('\n').pop()!) as Record<keyof TorchTimes, { seconds: number; cpu_seconds: number }>;
  const t = (k: keyof TorchTimes): Timing => ({ wall: r[k].seconds, cpu: r[k].cpu_seconds });
  return { text: t('text'), lyric: t('lyric'), timbre: t('timbre'), total: t('total') };
}

async function run(ctx: BenchContext, emit: (r: BenchRow) => void): Promise<void> {
  const precisions: MatmulPrecision[] = ctx.quick ? ['bf16'] : ['bf16', 'fp32'];
  const rows = precisions.flatMap((p) => ['first', 'warm'].map((w) => ({ p, w, name: `encoders.e2e30s.${w}` })));
  if (!rows.some((r) => wanted(ctx, r.name))) return;
  native.setNumThreads(ctx.threads);
  const root = ensureCheckpoints(ctx.log);
  const reps = ctx.quick ? 2 : 4;
  for (const precision of precisions) {
    ctx.log(`encoders: ${precision} (load average ${loadavg()[0].toFixed(2)})`);
    const ours = await measureOurs(root, precision, reps);
    const dtype = precision === 'bf16' ? 'bf16' : 'f32';
    ctx.log(`encoders: torch ${dtype} reference`);
    const torch = torchTimes(ours.ids.caption, ours.ids.lyrics, ctx.threads, dtype);
    for (const which of ['first', 'warm'] as const) {
      const name = `encoders.e2e30s.${which}`;
      if (!wanted(ctx, name)) continue;
      const t = ours[which];
      const ref = torch ? 1 / torch.total.wall : null;
      emit({
        name,
        shape: `cap ${ours.ids.caption}, lyr ${ours.ids.lyrics}, ref 750, ${ctx.threads} thr`,
        dtype: precision === 'bf16' ? 'bf16w-bf16' : 'bf16w-f32',
        ours: 1 / t.wall,
        unit: 'runs/s',
        reference:
          torch === null
            ? 'torch not available (/usr/bin/python3)'
            : `torch ${dtype} eager, bench/encoders_torch.py (every timbre row, as upstream)`,
        ref,
        ratio: ratioOf(1 / t.wall, ref),
        wallSeconds: t.wall,
        cpuSeconds: t.cpu,
        parts: ours.parts,
        torch,
        load1Start: ours.load1Start,
        load1End: ours.load1End,
      });
    }
  }
}

export function suites(): Suite[] {
  return [{ name: 'encoders', run }];
}
