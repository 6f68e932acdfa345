// Stage: assemble the task (UPSTREAM.md: Task assembly, Task types). Lays the task out (relabelled
// items, the batch's latent length), turns each item's audio codes into DiT hints with the audio
// tokenizer, and builds the clean/source latents and masks through the pure task-assembly
// functions.
import { concat, DisposableStack, Tensor } from '../../runtime/index.js';
import type { TaskType } from '../conditioning/prompts.js';
import {
  cleanLatents,
  layoutTask,
  regionFrames,
  silenceFrames,
  taskLatents,
  type ItemPlan,
  type LatentRow,
  type TaskLatents,
  type TaskLayout,
} from '../task-assembly.js';
import type { InputAudio } from './input-audio.js';
import type { RunContext } from './context.js';

export interface AssembledTask extends TaskLatents, Disposable {
  items: ItemPlan[];
  /** The task after relabelling (text2music with codes runs as cover). */
  effectiveTask: TaskType;
  shape: [number, number, number];
  /** [B, T, C] clean latents (source, code hints or silence). */
  clean: Float32Array;
  /** Repaint/lego region in latent frames, null without one. */
  region: [number, number] | null;
  isCovers: number[];
  /** [B, T, C] code hints when every item has audio codes (handed to the condition encoder). */
  hints: Tensor | null;
  /** Frees the hint tensors. */
  dispose(): void;
}

/** The task's layout (relabelled items, latent length, durations) for this engine. */
export function planTask(ctx: RunContext, items: ItemPlan[], input: InputAudio): TaskLayout {
  const { engine, p } = ctx;
  const dims = { poolWindow: engine.ditConfig.poolWindowSize, sampleRate: engine.sampleRate, hop: engine.hop, frameRate: engine.frameRate };
  return layoutTask(items, p, input.source ? input.source.frames : null, dims);
}

/** The DiT's inputs of the laid-out task: code hints, clean and source latents, masks. */
export async function assembleTask(ctx: RunContext, items: ItemPlan[], layout: TaskLayout, input: InputAudio): Promise<AssembledTask> {
  const { engine, p, silence } = ctx;
  const { source, repaintRegion } = input;
  const B = items.length,
    C = silence.C;
  const sr = engine.sampleRate,
    hop = engine.hop;
  const { effectiveTask, T } = layout;

  // The hint tensors are freed on failure, or handed to the assembled task on success.
  using building = new DisposableStack();
  const hintRows: Tensor[] = [];
  const rows: LatentRow[] = [];
  {
    // Codes shorter than T are padded with the first silence frames (upstream appends those).
    using silenceT = items.some((it) => it.audioCodes)
      ? Tensor.fromArray(silenceFrames(silence, 0, T), [1, T, C], { device: engine.device })
      : null;
    for (const it of items) {
      if (it.audioCodes) {
        const h = engine.audioTokenizer.hintsFromCodeString(it.audioCodes, { targetFrames: T, silenceLatent: silenceT! });
        h.quantized.dispose();
        hintRows.push(building.use(h.hints));
        rows.push({ latents: await h.hints.toFloat32(), frames: T });
      } else if (source) {
        rows.push({ latents: source.latents, frames: source.frames });
      } else {
        rows.push({ latents: silenceFrames(silence, 0, T), frames: T });
      }
    }
  }
  const hints = hintRows.length === B ? (B === 1 ? hintRows[0] : building.use(concat(hintRows, 0))) : null;
  const shape: [number, number, number] = [B, T, C];
  const clean = cleanLatents(rows, T, silence);
  const region = repaintRegion ? regionFrames(repaintRegion, T, sr, hop) : null;
  const latents = taskLatents(clean, shape, silence, region, p.chunkMaskMode, p.taskType === 'repaint');
  const owned = building.move();
  return {
    ...latents,
    items,
    effectiveTask,
    shape,
    clean,
    region,
    isCovers: items.map((it) => (it.task === 'cover' ? 1 : 0)),
    hints,
    dispose: () => owned.dispose(),
    [Symbol.dispose]: () => owned.dispose(),
  };
}
