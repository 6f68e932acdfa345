// GenerationParams / GenerationConfig: upstream defaults (UPSTREAM.md: Parameters and defaults,
// Post-processing and saving), snake_case input, the seed plan of UPSTREAM.md: Noise and seeds
// (useRandomSeed, a single seed with batch > 1, lists, -1, comma strings) and the typed errors.
// Plain host logic; exact expectations.
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, ParamError, planSeeds, resolveConfig, resolveParams } from '../src/index.js';

/** A counter standing in for the random source, so "random" seeds are recognisable. */
function counter(start = 1000): () => number {
  let n = start;
  return () => n++;
}

describe('generation parameters', () => {
  it('defaults follow the upstream library', () => {
    const p = resolveParams();
    expect(p).toMatchObject({
      taskType: 'text2music',
      inferenceSteps: 8,
      shift: 1,
      guidanceScale: 7,
      inferMethod: 'ode',
      lmTemperature: 0.85,
      lmCfgScale: 2,
      lmTopK: 0,
      lmTopP: 0.9,
      lmRepetitionPenalty: 1,
      lmNegativePrompt: 'NO USER INPUT',
      vocalLanguage: 'unknown',
      chunkMaskMode: 'auto',
      repaintMode: 'balanced',
      repaintStrength: 0.5,
      enableNormalization: true,
      normalizationDb: -1,
      dcwEnabled: true,
      dcwMode: 'double',
      thinking: true,
      audioCoverStrength: 1,
      duration: -1,
      seed: -1,
    });
    expect(DEFAULT_CONFIG).toMatchObject({
      batchSize: 2,
      useRandomSeed: true,
      audioFormat: 'flac',
      lmBatchChunkSize: 8,
      mp3Bitrate: '128k',
      mp3SampleRate: 48000,
    });
  });

  it('accepts snake_case and camelCase and normalises form strings', () => {
    const p = resolveParams({
      task_type: 'cover',
      src_audio: 'a.wav',
      inference_steps: 4,
      lm_repetition_penalty: 1.1,
      bpm: '96',
      timesignature: 3,
      audioCoverStrength: 0.5,
    });
    expect(p).toMatchObject({
      taskType: 'cover',
      srcAudio: 'a.wav',
      inferenceSteps: 4,
      lmRepetitionPenalty: 1.1,
      bpm: 96,
      timesignature: '3',
      audioCoverStrength: 0.5,
    });
    expect(resolveConfig({ batch_size: 3, use_random_seed: false, audio_format: 'mp3', mp3_bitrate: '320k' })).toMatchObject({
      batchSize: 3,
      useRandomSeed: false,
      audioFormat: 'mp3',
    });
  });

  it('plans seeds like upstream prepare_seeds', () => {
    const p = resolveParams({ seed: 42 });
    expect(planSeeds(p, resolveConfig({ batchSize: 3, useRandomSeed: true }), counter())).toEqual([1000, 1001, 1002]);
    expect(planSeeds(p, resolveConfig({ batchSize: 3, useRandomSeed: false }), counter())).toEqual([42, 1000, 1001]);
    expect(planSeeds(p, resolveConfig({ batchSize: 1, useRandomSeed: false }), counter())).toEqual([42]);
    expect(planSeeds(p, resolveConfig({ batchSize: 3, useRandomSeed: false, seeds: [5, -1] }), counter())).toEqual([5, 1000, 1001]);
    expect(planSeeds(p, resolveConfig({ batchSize: 2, useRandomSeed: false, seeds: '7, 8, 9' }), counter())).toEqual([7, 8]);
    expect(planSeeds(resolveParams(), resolveConfig({ batchSize: 2, useRandomSeed: false }), counter())).toEqual([1000, 1001]);
  });

  it('rejects bad values with the parameter name and range', () => {
    const cases: [() => unknown, string, RegExp][] = [
      [() => resolveParams({ lm_top_p: 1.5 }), 'lmTopP', /\[0, 1\]/],
      [() => resolveParams({ cfgIntervalStart: 0.8, cfgIntervalEnd: 0.5 }), 'cfgIntervalStart', /cfgIntervalEnd/],
      [() => resolveParams({ inferMethod: 'sde', samplerMode: 'heun' }), 'samplerMode', /ode/],
      [() => resolveParams({ timesteps: [1, 2] }), 'timesteps', /\[0, 1\]/],
      [() => resolveParams({ vocal_language: 'klingon' }), 'vocalLanguage', /language code/],
      [() => resolveParams({ completeTrackClasses: ['drums', 'banjo'] }), 'completeTrackClasses', /track names/],
      [() => resolveParams({ seed: 2 ** 32 }), 'seed', /integer/],
      [() => resolveParams({ thinking: 'yes' }), 'thinking', /true or false/],
      [() => resolveConfig({ mp3_sample_rate: 22050 }), 'mp3SampleRate', /44100, 48000/],
      [() => resolveConfig({ mp3Bitrate: '100k' }), 'mp3Bitrate', /128k/],
    ];
    for (const [f, name, msg] of cases) {
      let err: unknown = null;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(ParamError);
      expect((err as ParamError).param).toBe(name);
      expect((err as ParamError).message).toMatch(msg);
    }
  });
});
