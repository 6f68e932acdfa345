// Stage: post-processing and saving (spec 17.2, 17.3). Per item: the repaint waveform splice
// (non-aggressive repaint keeps the source outside the region), peak limiting, optional peak
// normalisation, fades, the parameter record and its key, and the audio file when a folder is given.
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
export async function postProcessAndSave(ctx: RunContext, wav: Float32Array, N: number, items: ItemPlan[], input: InputAudio): Promise<GeneratedAudio[]> {
  const { engine, p, c, opts } = ctx;
  const { source, repaintRegion } = input;
  const sr = engine.sampleRate;
  const B = items.length;
  checkAbort(opts.signal, 'saving');
  const t0 = performance.now();
  const rc = resolveRepaintConfig(p.repaintMode, p.repaintStrength);
  if (opts.saveDir) ensureOutputDir(opts.saveDir);
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
    const rec = paramsRecord(p, c, { seed: items[b].seed, audioCodes: items[b].audioCodes }, engine.loraState());
    const key = keyFromParams(rec, FLOAT_PARAM_KEYS);
    let path: string | null = null;
    if (opts.saveDir) {
      path = join(opts.saveDir, `${key}.${extensionOf(c.audioFormat)}`);
      await saveAudio(path, { sampleRate: sr, channels }, { format: c.audioFormat, mp3Bitrate: c.mp3Bitrate, mp3SampleRate: c.mp3SampleRate });
    }
    opts.onProgress?.({ stage: 'save', item: b + 1, total: B });
    audios.push({ path, key, sampleRate: sr, channels, params: rec });
  }
  ctx.timeCosts.save_time = seconds(t0);
  return audios;
}
