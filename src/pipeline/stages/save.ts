// Stage: post-processing and saving (UPSTREAM.md: Post-processing and saving). Per item: the repaint
// waveform splice (non-aggressive repaint keeps the source outside the region), peak limiting,
// optional peak normalisation, fades, the parameter record and its key, and the audio file when a
// folder is given.
import { join } from 'node:path';
import { ensureOutputDir } from '../../io/output-dir.js';
import { saveAudio, extensionOf, limitPeak, normalizePeak, applyFades, keyFromParams } from '../../io/audio/index.js';
import { repaintWaveformSplice, resolveRepaintConfig } from '../diffusion/repaint.js';
import { paramsRecord, FLOAT_PARAM_KEYS } from '../results.js';
import type { GeneratedAudio } from '../generate.js';
import type { ItemPlan } from '../task-assembly.js';
import type { InputAudio } from './input-audio.js';
import { checkAbort, seconds, type RunContext } from './context.js';

/** Audio [B, 2, N] -> the finished, saved items. */
export async function postProcessAndSave(
  ctx: RunContext,
  wav: Float32Array,
  N: number,
  items: ItemPlan[],
  input: InputAudio,
): Promise<GeneratedAudio[]> {
  const { engine, p, c, opts } = ctx;
  const { source, repaintRegion } = input;
  const sr = engine.sampleRate;
  const B = items.length;
  checkAbort(opts.signal, 'saving');
  const t0 = performance.now();
  const rc = resolveRepaintConfig(p.repaintMode, p.repaintStrength);
  let saveFailure: string | null = null;
  if (opts.saveDir) {
    try {
      ensureOutputDir(opts.saveDir);
    } catch (e) {
      saveFailure = (e as Error).message;
    }
  }
  const audios: GeneratedAudio[] = [];
  for (let b = 0; b < B; b++) {
    let item = wav.subarray(b * 2 * N, (b + 1) * 2 * N);
    if (p.taskType === 'repaint' && repaintRegion && source && p.repaintMode !== 'aggressive') {
      const sn = source.pcm.channels[0].length;
      const s2 = new Float32Array(2 * sn);
      s2.set(source.pcm.channels[0], 0);
      s2.set(source.pcm.channels[1], sn);
      item = repaintWaveformSplice(item, N, s2, sn, 2, sr, repaintRegion.startS, repaintRegion.endS, rc.wavCrossfadeSeconds);
    }
    let channels: Float32Array[] = [Float32Array.from(item.subarray(0, N)), Float32Array.from(item.subarray(N, 2 * N))];
    channels = limitPeak(channels);
    if (p.enableNormalization) channels = normalizePeak(channels, p.normalizationDb);
    channels = applyFades(channels, sr, p.fadeInDuration, p.fadeOutDuration);
    const rec = paramsRecord(p, c, { seed: items[b].seed, audioCodes: items[b].audioCodes }, ctx.adapters);
    const key = keyFromParams(rec, FLOAT_PARAM_KEYS);
    let path: string | null = null;
    if (opts.saveDir) {
      // Like upstream, a file that cannot be written leaves path '' and the audio in memory.
      path = '';
      if (saveFailure === null) {
        const file = join(opts.saveDir, `${key}.${extensionOf(c.audioFormat)}`);
        try {
          await saveAudio(
            file,
            { sampleRate: sr, channels },
            { format: c.audioFormat, mp3Bitrate: c.mp3Bitrate, mp3SampleRate: c.mp3SampleRate },
          );
          path = file;
        } catch (e) {
          ctx.warnings.push(`warning: audio ${b + 1} was not saved (${(e as Error).message}); it is kept in memory`);
        }
      }
    }
    opts.onProgress?.({ stage: 'save', item: b + 1, total: B });
    audios.push({ path, key, sampleRate: sr, channels, params: rec });
  }
  if (saveFailure !== null) ctx.warnings.push(`warning: the audio was not saved (${saveFailure}); it is kept in memory`);
  ctx.timeCosts.save_time = seconds(t0);
  return audios;
}
