// Stage: encode the text and build the DiT's condition sets (UPSTREAM.md: Text encoder and caption
// prompt, Lyrics, Task assembly, Cover strength and noise). The caption prompts run through the
// text encoder and the lyrics through its embedding table; the condition encoder packs them with
// the reference audio's latents and the task's source latents. A second, non-cover set (default
// instruction, silence source) is built whenever audio_cover_strength < 1, and both are doubled
// with the null condition when the base/SFT samplers guide.
import { concat, DisposableStack, flush, pad, tidy, Tensor } from '../../runtime/index.js';
import { ditCaptionPrompt, ditLyricsPrompt, formatMetas, DEFAULT_DIT_INSTRUCTION } from '../conditioning/prompts.js';
import { captionIds, lyricIds, nonCoverCaptionIds } from '../conditioning/text-conditioning.js';
import { prepareDiTCondition, withNullCondition, type DiTStepCondition } from '../diffusion/dit-sampling.js';
import { silenceBatch, silenceFrames } from '../task-assembly.js';
import { REFERENCE_SECONDS, type EncodedAudio } from './input-audio.js';
import type { AssembledTask } from './task.js';
import { checkAbort, seconds, type RunContext } from './context.js';

export interface DiTConditions extends Disposable {
  main: DiTStepCondition;
  /** The non-cover condition (audio_cover_strength < 1). */
  nonCover: DiTStepCondition | undefined;
  /** Whether the sampler guides (base/SFT with guidance_scale > 1 and a null condition). */
  guided: boolean;
  /** Frees the condition sets and their inputs. */
  dispose(): void;
}

export async function encodeConditions(ctx: RunContext, task: AssembledTask, reference: EncodedAudio | null): Promise<DiTConditions> {
  const { engine, p, silence } = ctx;
  const { items, shape } = task;
  const [B, T, C] = shape;
  const dev = engine.device;
  const fps = engine.frameRate;
  checkAbort(ctx.opts.signal, 'text encoding');
  const tCond = performance.now();
  const ttok = engine.textTokenizer;
  const coverCaption = items.map((it) => captionIds(ttok, ditCaptionPrompt(it.instruction, it.caption, formatMetas(it.metas))));
  const lyricIdList = items.map((it) => lyricIds(ttok, ditLyricsPrompt(it.language, it.lyrics)));
  // Spec 14.7: built whenever audio_cover_strength < 1, whatever the task.
  const needNonCover = p.audioCoverStrength < 1;
  const nonCoverCaption = needNonCover
    ? items.map((it, b) =>
        nonCoverCaptionIds(ttok, ditCaptionPrompt(DEFAULT_DIT_INSTRUCTION, it.caption, formatMetas(it.metas)), coverCaption[b].length),
      )
    : null;
  const encodeBatch = (ids: number[][], embedOnly: boolean): { states: Tensor; mask: number[] } => {
    const L = Math.max(...ids.map((x) => x.length));
    const mask: number[] = [];
    const states = tidy(() => {
      const rows = ids.map((row) => {
        const t = Tensor.fromArray(Int32Array.from(row), [1, row.length], { device: dev });
        const h = embedOnly ? engine.textEncoder.embed(t) : engine.textEncoder.forward(t);
        mask.push(...row.map(() => 1), ...new Array<number>(L - row.length).fill(0));
        return row.length < L ? pad(h, 1, 0, L - row.length) : h;
      });
      return rows.length === 1 ? rows[0] : concat(rows, 0);
    });
    return { states, mask };
  };
  // Everything built here is freed on failure, or handed to the returned conditions on success.
  using building = new DisposableStack();
  const text = encodeBatch(coverCaption, false);
  building.use(text.states);
  const lyr = encodeBatch(lyricIdList, true);
  building.use(lyr.states);
  const refFrames = Math.round(REFERENCE_SECONDS * fps);
  const refLatents = reference
    ? Tensor.fromArray(reference.latents, [1, reference.frames, C], { device: dev })
    : Tensor.fromArray(silenceFrames(silence, 0, refFrames), [1, refFrames, C], { device: dev });
  const referAcoustic = building.use(tidy(() => (B === 1 ? refLatents.contiguous() : concat(new Array<Tensor>(B).fill(refLatents), 0))));
  refLatents.dispose();
  const referOrder = Array.from({ length: B }, (_, b) => b);
  // Every item shares the one reference: its timbre embedding is encoded once (for silence the
  // engine keeps it across generations) and serves both condition sets.
  const oneTimbre = reference
    ? building.use(tidy(() => engine.conditionEncoder.encodeTimbre(referAcoustic.narrow(0, 0, 1))))
    : await engine.silenceTimbre(refFrames);
  const referTimbre = building.use(tidy(() => oneTimbre.expand([B, oneTimbre.shape[1]]).contiguous()));
  const srcT = building.use(Tensor.fromArray(task.src, [B, T, C], { device: dev }));
  const chunkT = building.use(Tensor.fromArray(task.chunkMask, [B, T, C], { device: dev }));
  const silenceDev = engine.silenceLatent.device === dev ? engine.silenceLatent : building.use(engine.silenceLatent.toDevice(dev));
  const models = { encoder: engine.conditionEncoder, tokenizer: engine.audioTokenizer };
  // Both condition sets share the lyrics: encoded once when the non-cover set is built too.
  const lyricEncoded = needNonCover ? building.use(engine.conditionEncoder.encodeLyrics(lyr.states, lyr.mask)) : undefined;
  const common = {
    lyricHiddenStates: lyr.states,
    lyricAttentionMask: lyr.mask,
    lyricEncoded,
    referAcoustic,
    referOrder,
    referTimbre,
    silenceLatent: silenceDev,
    chunkMasks: chunkT,
  };
  const main = building.use(
    await prepareDiTCondition(models, {
      ...common,
      textHiddenStates: text.states,
      textAttentionMask: text.mask,
      srcLatents: srcT,
      isCovers: task.isCovers,
      precomputedHints: task.hints ?? undefined,
    }),
  );
  let nonCover: DiTStepCondition | undefined;
  if (nonCoverCaption) {
    const nc = encodeBatch(nonCoverCaption, false);
    building.use(nc.states);
    const silSrc = building.use(Tensor.fromArray(silenceBatch(silence, B, T), [B, T, C], { device: dev }));
    nonCover = building.use(
      await prepareDiTCondition(models, {
        ...common,
        textHiddenStates: nc.states,
        textAttentionMask: nc.mask,
        srcLatents: silSrc,
        isCovers: new Array(B).fill(0),
      }),
    );
  }
  const guided = engine.variant !== 'turbo' && p.guidanceScale > 1 && engine.nullConditionEmb !== null;
  const wrap = (d: DiTStepCondition) => (guided ? building.use(withNullCondition(d, engine.nullConditionEmb!)) : d);
  const sets = { main: wrap(main), nonCover: nonCover && wrap(nonCover) };
  // The encoders run on the native queue: wait for them so their time is not booked to diffusion
  // (sampling needs their output first anyway, so this costs nothing).
  await flush();
  ctx.timeCosts.dit_encoder_time_cost = seconds(tCond);
  const owned = building.move();
  return { ...sets, guided, dispose: () => owned.dispose(), [Symbol.dispose]: () => owned.dispose() };
}
