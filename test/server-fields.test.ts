// The /release_task field table (src/server/release-fields.ts) without a server: upstream's
// defaults, every alias of a few fields, the lookup order, boolean and list forms, and the 400s.
import { describe, expect, it } from 'vitest';
import { resolveConfig, resolveParams } from '../src/index.js';
import { HttpError } from '../src/server/envelope.js';
import { readReleaseFields, RELEASE_FIELDS, restFieldOf } from '../src/server/release-fields.js';

describe('release fields', () => {
  it("an empty body gets upstream's API defaults, which the pipeline accepts", () => {
    const r = readReleaseFields({});
    expect(r.params).toMatchObject({
      caption: '',
      lyrics: '',
      thinking: false,
      vocal_language: 'en',
      inference_steps: 8,
      guidance_scale: 7,
      shift: 3,
      task_type: 'text2music',
      lm_cfg_scale: 2.5,
      duration: -1,
      instrumental: true,
    });
    expect(r.config).toEqual({ use_random_seed: true, batch_size: 2, audio_format: 'mp3', allow_lm_batch: true });
    expect(r.sampleMode).toBe(false);
    expect(r.useFormat).toBe(false);
    expect(r.model).toBeNull();
    expect(() => resolveParams(r.params)).not.toThrow();
    expect(() => resolveConfig(r.config)).not.toThrow();
  });

  it('every alias of a field lands on the same parameter', () => {
    for (const spec of RELEASE_FIELDS.filter((f) => f.names.length > 1 && f.kind === 'string' && f.to.params)) {
      for (const name of spec.names) expect(readReleaseFields({ [name]: 'vocals' }).params[spec.to.params!], name).toBe('vocals');
    }
    for (const name of ['audio_duration', 'duration', 'audioDuration', 'target_duration', 'targetDuration'])
      expect(readReleaseFields({ [name]: '42.5' }).params.duration).toBe(42.5);
    for (const name of ['src_audio_path', 'ctx_audio_path', 'sourceAudioPath', 'srcAudioPath', 'ctxAudioPath'])
      expect(readReleaseFields({ [name]: 'a.wav' }).srcAudioPath).toBe('a.wav');
    for (const name of ['model', 'model_name', 'modelName', 'dit_model', 'ditModel'])
      expect(readReleaseFields({ [name]: 'acestep-v15-base' }).model).toBe('acestep-v15-base');
  });

  it('top level, then param_obj, then the first non-empty metas object', () => {
    const r = readReleaseFields({
      bpm: 100,
      param_obj: { bpm: 110, keyscale: 'A minor', time_signature: '3' },
      metas: {},
      meta: { bpm: 120, keyscale: 'B minor', duration: 30, timesignature: '4' },
      metadata: { duration: 50 },
    });
    expect(r.params.bpm).toBe(100);
    expect(r.params.keyscale).toBe('A minor');
    expect(r.params.timesignature).toBe('3');
    // `metas` is empty, so `meta` is the metadata layer and `metadata` is never read.
    expect(r.params.duration).toBe(30);
    expect(readReleaseFields({ param_obj: '{"inferenceSteps": 4}' }).params.inference_steps).toBe(4);
  });

  it('boolean forms, seeds, lists, instrumental lyrics, bpm 0', () => {
    for (const v of ['1', 'true', 'YES', 'y', 'on', true, 1]) expect(readReleaseFields({ thinking: v }).params.thinking).toBe(true);
    for (const v of ['0', 'false', 'no', 'off', false, 0]) expect(readReleaseFields({ thinking: v }).params.thinking).toBe(false);
    expect(readReleaseFields({ seed: '3, 4' }).config).toMatchObject({ seeds: '3, 4', use_random_seed: false });
    expect(readReleaseFields({ seed: 9 }).params.seed).toBe(9);
    expect(readReleaseFields({ seed: 9, use_random_seed: true }).config.use_random_seed).toBe(true);
    expect(readReleaseFields({ timesteps: '1, 0.5,0.25' }).params.timesteps).toEqual([1, 0.5, 0.25]);
    expect(readReleaseFields({ instruments: 'drums,bass' }).params.complete_track_classes).toEqual(['drums', 'bass']);
    expect(readReleaseFields({ lyrics: '[inst]' }).params).toMatchObject({ instrumental: true, lyrics: '[Instrumental]' });
    expect(readReleaseFields({ lyrics: '[verse] hi' }).params.instrumental).toBe(false);
    expect(readReleaseFields({ bpm: 0 }).params.bpm).toBeNull();
    expect(readReleaseFields({ bpm: '119.6' }).params.bpm).toBe(120);
    expect(readReleaseFields({ track_name: 'Drums' }).params.track_name).toBe('drums');
  });

  it('values that do not parse are a 400 naming the REST field', () => {
    const bad = (body: Record<string, unknown>) => {
      try {
        readReleaseFields(body);
      } catch (e) {
        expect(e).toBeInstanceOf(HttpError);
        expect((e as HttpError).status).toBe(400);
        return (e as HttpError).message;
      }
      throw new Error('accepted');
    };
    expect(bad({ inferenceSteps: '2.5' })).toMatch(/^inference_steps: must be an integer/);
    expect(bad({ use_format: 'maybe' })).toMatch(/^use_format: must be a boolean/);
    expect(bad({ seed: [1, 2] })).toMatch(/^seed: /);
    expect(bad({ caption: { a: 1 } })).toMatch(/^prompt: must be a string/);
    expect(bad({ timesteps: 'x' })).toMatch(/^timesteps: must be a number/);
    expect(restFieldOf('keyscale')).toBe('key_scale');
    expect(restFieldOf('srcAudio')).toBe('src_audio_path');
    expect(restFieldOf('batchSize')).toBe('batch_size');
  });
});
