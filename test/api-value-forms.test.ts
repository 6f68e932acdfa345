// Upstream's value forms (docs/en/INFERENCE.md, acestep/inference.py): every key spelling, time
// signatures as N or N/M, vocal_language in any case, bpm 0 / duration null as "auto", the LM
// filters' off values, and how each value is carried: verbatim into the DiT's metas block, stripped
// into the LM's user metadata (as generate_music builds it), never rewritten. Also the phase table
// of `thinking` / `use_cot_*` per task, and the forms that stay ParamErrors. Host logic only.
import { describe, expect, it } from 'vitest';
import { ParamError, resolveConfig, resolveParams } from '../src/index.js';
import { formatMetas } from '../src/pipeline/conditioning/prompts.js';
import { initialItems } from '../src/pipeline/task-assembly.js';
import { lmPhases, userMetas } from '../src/pipeline/stages/lm-plan.js';
import { parseKeyscale, parseTimeSignature } from '../src/pipeline/lm/music-vocabulary.js';

function paramError(f: () => unknown): ParamError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ParamError);
    return e as ParamError;
  }
  throw new Error('expected a ParamError');
}

/** The DiT's `# Metas` block of the first item, as the caption prompt carries it. */
const ditMetas = (input: Record<string, unknown>) => formatMetas(initialItems(resolveParams(input), [1])[0].metas);

describe('value forms', () => {
  it('reads every musically valid key spelling', () => {
    const cases: [string, string][] = [
      ['C Major', 'C major'],
      ['c major', 'C major'],
      ['Am', 'A minor'],
      ['F# minor', 'F# minor'],
      ['Bb', 'Bb major'],
      ['A minor', 'A minor'],
      ['C#m', 'C# minor'],
      ['Ebmaj', 'Eb major'],
      ['g MINOR', 'G minor'],
      ['F♯ minor', 'F♯ minor'],
      ['DM', 'D major'],
    ];
    for (const [s, canonical] of cases) {
      expect(parseKeyscale(s), s).toBe(canonical);
      expect(resolveParams({ keyscale: s }).keyscale, s).toBe(s);
    }
    for (const bad of ['H major', 'C dorian', 'major', 'C##', '7', 'Cx']) {
      const e = paramError(() => resolveParams({ keyscale: bad }));
      expect(e.param).toBe('keyscale');
      expect(e.message).toContain(JSON.stringify(bad));
    }
  });

  it('reads time signatures as beats or fractions, numbers included', () => {
    for (const [s, beats] of [
      ['4/4', 4],
      ['3/4', 3],
      ['6/8', 6],
      ['2/4', 2],
      ['4', 4],
      [' 3 ', 3],
    ] as const)
      expect(parseTimeSignature(s), s).toBe(beats);
    expect(resolveParams({ timesignature: 6 }).timesignature).toBe('6');
    expect(resolveParams({ timesignature: '4/4' }).timesignature).toBe('4/4');
    for (const bad of ['5', '7/8', '4/', 'common'])
      expect(paramError(() => resolveParams({ timesignature: bad })).param).toBe('timesignature');
  });

  it('vocal_language in any case, "" = unknown; bpm 0 / null and duration null / <= 0 = auto; LM filter off values', () => {
    for (const lang of ['EN', 'en', 'Ja', '', 'unknown', 'UNKNOWN'])
      expect(resolveParams({ vocal_language: lang }).vocalLanguage).toBe(lang);
    expect(paramError(() => resolveParams({ vocal_language: 'english' })).param).toBe('vocalLanguage');
    expect(resolveParams({ bpm: 0 }).bpm).toBe(0);
    expect(resolveParams({ bpm: null }).bpm).toBeNull();
    expect(resolveParams({ bpm: '' }).bpm).toBeNull();
    expect(resolveParams({ duration: null }).duration).toBe(-1);
    expect(resolveParams({ duration: 0 }).duration).toBe(0);
    expect(resolveParams({ lm_top_k: 0, lm_top_p: 0 })).toMatchObject({ lmTopK: 0, lmTopP: 0 });
    expect(resolveParams({ lm_top_p: 1 }).lmTopP).toBe(1);
    expect(resolveParams({ lm_top_k: null, lm_top_p: null })).toMatchObject({ lmTopK: 0, lmTopP: 1 });
    expect(paramError(() => resolveParams({ bpm: 'fast' })).message).toMatch(/\[30, 300\].*null \/ 0/);
    expect(paramError(() => resolveParams({ bpm: -5 })).param).toBe('bpm');
    expect(paramError(() => resolveParams({ lm_top_p: 1.5 })).param).toBe('lmTopP');
    // An empty seed is unset (random), as an empty bpm is; never seed 0.
    expect(resolveParams({ seed: '' }).seed).toBe(-1);
    expect(resolveParams({ seed: ' 42 ' }).seed).toBe(42);
    expect(paramError(() => resolveParams({ seed: 'abc' })).param).toBe('seed');
  });

  it('accepts every upstream dataclass field: use_cot_lyrics, cot_*, constrained_decoding_debug', () => {
    const p = resolveParams({
      use_cot_lyrics: true,
      cot_bpm: 120,
      cot_keyscale: 'C major',
      cot_timesignature: '4',
      cot_duration: 30.0,
      cot_vocal_language: 'en',
      cot_caption: 'x',
      cot_lyrics: 'y',
    });
    expect(p).toMatchObject({ useCotLyrics: true, cotBpm: 120, cotKeyscale: 'C major', cotDuration: 30, cotVocalLanguage: 'en' });
    expect(resolveParams().useCotLyrics).toBe(false);
    expect(resolveConfig({ constrained_decoding_debug: true }).constrainedDecodingDebug).toBe(true);
    expect(paramError(() => resolveParams({ use_cot_lyrics: 'yes' })).param).toBe('useCotLyrics');
  });

  it('carries the strings verbatim into the DiT metas and stripped into the LM user metadata, as upstream', () => {
    expect(ditMetas({ keyscale: 'C Major', timesignature: '4/4', bpm: 80, duration: 60 })).toBe(
      '- bpm: 80\n- timesignature: 4/4\n- keyscale: C Major\n- duration: 60 seconds\n',
    );
    // bpm 0 is N/A (upstream `if bpm:`); blank strings are N/A; " Am " reaches the DiT as written.
    expect(ditMetas({ bpm: 0, keyscale: ' Am ', timesignature: '  ' })).toBe(
      '- bpm: N/A\n- timesignature: N/A\n- keyscale:  Am \n- duration: 30 seconds\n',
    );
    expect(userMetas(resolveParams({ keyscale: ' Am ', timesignature: ' 6/8 ', bpm: 0, duration: 45.7, vocal_language: 'EN' }))).toEqual({
      keyscale: 'Am',
      timesignature: '6/8',
      duration: '45',
    });
    expect(userMetas(resolveParams({ keyscale: 'N/A', bpm: 96 }))).toEqual({ bpm: '96' });
  });
});

describe('thinking and use_cot_* (upstream generate_music)', () => {
  const phases = (input: Record<string, unknown>, hasLm = true) => lmPhases(resolveParams({ src_audio: 'a.wav', ...input }), hasLm);

  it('runs Phase 1 whenever a use_cot flag is on, Phase 2 only with thinking', () => {
    expect(phases({})).toEqual({ cot: true, codes: true });
    expect(phases({ thinking: false })).toEqual({ cot: true, codes: false });
    expect(phases({ thinking: false, use_cot_metas: false })).toEqual({ cot: false, codes: false });
    expect(phases({ thinking: false, use_cot_metas: false, use_cot_caption: false, use_cot_language: false })).toEqual({
      cot: false,
      codes: false,
    });
    expect(phases({ use_cot_metas: false })).toEqual({ cot: false, codes: true });
    // Every meta given: the CoT has nothing to write; user codes: no Phase 2.
    expect(phases({ bpm: 90, keyscale: 'Am', timesignature: '4/4', duration: 20 })).toEqual({ cot: false, codes: true });
    expect(phases({ audio_codes: '<|audio_code_1|>' })).toEqual({ cot: true, codes: false });
    expect(phases({}, false)).toEqual({ cot: false, codes: false });
  });

  it('skips the LM for cover, cover-nofsq, repaint and extract; lego and complete get Phase 1 and keep their source', () => {
    for (const task of ['cover', 'cover-nofsq', 'repaint', 'extract'])
      expect(phases({ task_type: task }), task).toEqual({ cot: false, codes: false });
    for (const task of ['lego', 'complete']) expect(phases({ task_type: task }), task).toEqual({ cot: true, codes: false });
  });
});

describe('checked before any model runs', () => {
  it('timesteps: unsorted, repeated, empty or out of range are ParamErrors naming the accepted form', () => {
    for (const ts of [[0.5, 0.9, 0], [0.9, 0.9, 0], [], [0, 0], [1.2, 0.5], [0.5, 'x']]) {
      const e = paramError(() => resolveParams({ timesteps: ts }));
      expect(e.param).toBe('timesteps');
      expect(e.message).toMatch(/decreases strictly/);
    }
    expect(resolveParams({ timesteps: [0.97, 0.76, 0.615, 0.5, 0.395, 0.28, 0.18, 0.085, 0] }).timesteps).toHaveLength(9);
    expect(resolveParams({ timesteps: [1, 0.5, 0, 0] }).timesteps).toEqual([1, 0.5, 0, 0]);
  });
});
