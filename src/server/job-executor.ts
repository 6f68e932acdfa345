// Runs one accepted job on the engine: the optional LM pre-steps of /release_task (sample_mode
// writes caption and lyrics from a description, use_format rewrites them), then generateMusic
// with per-job progress (stage + step counts) and cancellation, and the result items of
// /query_result. Shared by the embedded queue and the Redis worker.
import { basename, join } from 'node:path';
import { audioToCodes, createSample, formatSample, understandMusic } from '../pipeline/lm-api.js';
import { generateMusic, type ProgressEvent } from '../pipeline/generate.js';
import { ParamError } from '../pipeline/params.js';
import type { AceStep } from '../pipeline/engine.js';
import type { EngineHost } from './engine-host.js';
import { CANCELLED, type JobProgress, type JobSpec, type ResultItem } from './jobs.js';

/** A job that ended without audio; `message` is what /query_result reports. */
export class JobFailedError extends Error {}

/** Maps pipeline events onto one 0..1 progress with a stage name and a step line. */
export function progressOf(e: ProgressEvent, thinking: boolean): JobProgress {
  const lmEnd = thinking ? 0.3 : 0.05;
  switch (e.stage) {
    case 'encode':
      return { progress: 0.02, stage: 'encoding', text: `Encoding ${e.what} audio` };
    case 'lm':
      // Token counts have no known end; approach the LM's share asymptotically.
      return {
        progress: 0.05 + (lmEnd - 0.05) * (e.step / (e.step + 200)),
        stage: 'lm',
        text: `LM phase ${e.phase}, item ${e.item + 1}: ${e.step} tokens`,
      };
    case 'dit':
      return { progress: lmEnd + (0.9 - lmEnd) * (e.step / e.total), stage: 'diffusion', text: `Diffusion step ${e.step}/${e.total}` };
    case 'vae':
      return { progress: 0.9 + 0.07 * (e.tile / e.total), stage: 'decoding', text: `Decoding tile ${e.tile}/${e.total}` };
    case 'save':
      return { progress: 0.97 + 0.03 * (e.item / e.total), stage: 'saving', text: `Saving audio ${e.item}/${e.total}` };
  }
}

/** Upstream's throttle: report a change >= 0.01, a new stage, or after 0.5 s. */
export function throttled(report: (p: JobProgress) => void): (p: JobProgress) => void {
  let last: JobProgress | null = null;
  let at = 0;
  return (p) => {
    const now = Date.now();
    if (last && p.stage === last.stage && Math.abs(p.progress - last.progress) < 0.01 && now - at < 500) return;
    last = p;
    at = now;
    report(p);
  };
}

const na = (v: unknown): unknown => (v === undefined || v === null || v === '' ? 'N/A' : v);

async function lmPreSteps(engine: AceStep, spec: JobSpec, params: Record<string, unknown>, signal: AbortSignal): Promise<void> {
  const r = spec.release;
  const fill = (m: {
    caption: string;
    lyrics: string;
    bpm: number | null;
    duration: number | null;
    keyscale: string;
    timesignature: string;
    language: string;
  }) => {
    if (m.caption) params.caption = m.caption;
    if (m.lyrics) params.lyrics = m.lyrics;
    if (params.bpm === undefined && m.bpm !== null && Number.isInteger(m.bpm)) params.bpm = m.bpm;
    if ((params.duration as number) <= 0 && m.duration !== null && m.duration > 0) params.duration = m.duration;
    if (!params.keyscale && m.keyscale) params.keyscale = m.keyscale;
    if (!params.timesignature && m.timesignature) params.timesignature = m.timesignature;
  };
  const lmOpts = { temperature: params.lm_temperature as number | undefined };
  if (r.sampleMode) {
    const s = await createSample(
      engine,
      {
        query: r.sampleQuery || String(params.caption ?? ''),
        instrumental: params.instrumental === true,
        vocalLanguage: (params.vocal_language as string) ?? null,
      },
      lmOpts,
    );
    if (!s.success) throw new JobFailedError(`sample_mode: ${s.error}`);
    fill(s);
  }
  if (signal.aborted) throw new JobFailedError(CANCELLED);
  if (r.useFormat) {
    const f = await formatSample(engine, { caption: String(params.caption ?? ''), lyrics: String(params.lyrics ?? '') }, lmOpts);
    if (!f.success) throw new JobFailedError(`use_format: ${f.error}`);
    fill(f);
  }
}

/** extract_codes_only / analysis_only: the source's audio codes, and with `understand` the LM's reading of them. */
async function analyse(engine: AceStep, spec: JobSpec, send: (p: JobProgress) => void): Promise<ResultItem[]> {
  const r = spec.release;
  send({ progress: 0.1, stage: 'encoding', text: 'Encoding source audio to codes' });
  const given = String(r.params.audio_codes ?? '');
  const codes = given || (await audioToCodes(engine, r.srcAudioPath!));
  const base: ResultItem = {
    audio: '',
    prompt: '',
    lyrics: '',
    metas: { prompt: r.original.prompt, lyrics: r.original.lyrics },
    generation_info: '',
    seed_value: '',
    lm_model: '',
    dit_model: basename(engine.ditDir),
    extra: { audio_codes: codes },
  };
  if (r.mode === 'codes') return [base];
  send({ progress: 0.4, stage: 'lm', text: 'LM reading the audio codes' });
  const u = await understandMusic(engine, { audioCodes: codes }, { temperature: r.params.lm_temperature as number | undefined });
  if (!u.success) throw new JobFailedError(`analysis: ${u.error}`);
  const found = {
    bpm: na(u.bpm),
    duration: na(u.duration),
    genres: na(u.genres),
    keyscale: na(u.keyscale),
    timesignature: na(u.timesignature),
    language: na(u.language),
  };
  return [
    {
      ...base,
      prompt: u.caption,
      lyrics: u.lyrics,
      metas: { ...found, prompt: r.original.prompt, lyrics: r.original.lyrics },
      generation_info: 'analysis of the source audio',
      lm_model: engine.lmDir ? basename(engine.lmDir) : '',
      extra: { audio_codes: codes, ...found, genre: found.genres },
    },
  ];
}

/**
 * Runs the job to its end. Resolves to the result items (audio files saved under
 * `<audioDir>/<taskId>/`); rejects with JobFailedError (message "cancelled" after an abort).
 */
export async function executeJob(
  host: EngineHost,
  spec: JobSpec,
  audioDir: string,
  report: (p: JobProgress) => void,
  signal: AbortSignal,
): Promise<ResultItem[]> {
  const release = spec.release;
  const params: Record<string, unknown> = { ...release.params };
  if (release.srcAudioPath) params.src_audio = release.srcAudioPath;
  if (release.referenceAudioPath) params.reference_audio = release.referenceAudioPath;
  const thinking = params.thinking === true;
  const send = throttled(report);
  return host.exclusive(async (engine) => {
    if (signal.aborted) throw new JobFailedError(CANCELLED);
    if (release.mode !== 'generate') {
      try {
        return await analyse(engine, spec, send);
      } catch (e) {
        throw e instanceof JobFailedError ? e : new JobFailedError((e as Error).message);
      }
    }
    send({ progress: 0.01, stage: 'starting', text: `Generating music (batch size: ${release.config.batch_size ?? 2})...` });
    try {
      await lmPreSteps(engine, spec, params, signal);
    } catch (e) {
      if (e instanceof ParamError) throw new JobFailedError(e.message);
      throw e;
    }
    const saveDir = join(audioDir, spec.taskId);
    let r;
    try {
      r = await generateMusic(engine, params, release.config, { saveDir, signal, onProgress: (e) => send(progressOf(e, thinking)) });
    } catch (e) {
      throw new JobFailedError((e as Error).message);
    }
    if (!r.success)
      throw new JobFailedError(signal.aborted || r.errorCode === 'ERR_ABORTED' ? CANCELLED : (r.error ?? 'generation failed'));
    const seeds = r.extraOutputs.seeds.join(',');
    const ditModel = basename(engine.ditDir);
    const lmModel = engine.lmDir ? basename(engine.lmDir) : '';
    const t = r.extraOutputs.timeCosts;
    const info = Object.entries(t)
      .map(([k, v]) => `${k}: ${v.toFixed(2)} s`)
      .join(', ');
    return r.audios.map((a, i) => {
      const m = (r.extraOutputs.lmMetadata ?? {}) as Record<string, unknown>;
      const p = a.params;
      return {
        audio: `${spec.taskId}/${basename(a.path!)}`,
        prompt: String(m.caption ?? p.caption ?? ''),
        lyrics: String(m.lyrics ?? p.lyrics ?? ''),
        metas: {
          bpm: na(m.bpm ?? p.bpm),
          duration: na(
            m.duration ?? (typeof p.duration === 'number' && p.duration > 0 ? p.duration : r.extraOutputs.latentFrames / engine.frameRate),
          ),
          genres: na(m.genres),
          keyscale: na(m.keyscale ?? p.keyscale),
          timesignature: na(m.timesignature ?? p.timesignature),
          prompt: release.original.prompt,
          lyrics: release.original.lyrics,
        },
        generation_info: `task ${r.extraOutputs.effectiveTask}, seeds ${seeds}; ${info}`,
        seed_value: seeds,
        lm_model: lmModel,
        dit_model: ditModel,
      };
    });
  });
}
