// Prompt builders: task instructions (UPSTREAM.md: Task types) and the metas block rules
// (UPSTREAM.md: Text encoder and caption prompt).
import { describe, expect, it } from 'vitest';
import { ditInstruction, formatInstruction, formatMetas } from '../src/pipeline/conditioning/prompts.js';

describe('prompts', () => {
  it('builds every task instruction with upper-cased track names', () => {
    expect(ditInstruction('text2music')).toBe('Fill the audio semantic mask based on the given conditions:');
    expect(ditInstruction('repaint')).toBe('Repaint the mask area based on the given conditions:');
    expect(ditInstruction('cover')).toBe('Generate audio semantic tokens based on the given conditions:');
    expect(ditInstruction('extract', ['vocals'])).toBe('Extract the VOCALS track from the audio:');
    expect(ditInstruction('extract')).toBe('Extract the track from the audio:');
    expect(ditInstruction('lego', ['guitar'])).toBe('Generate the GUITAR track based on the audio context:');
    expect(ditInstruction('complete', ['drums', 'bass'])).toBe('Complete the input track with DRUMS | BASS:');
    expect(ditInstruction('complete')).toBe('Complete the input track:');
  });

  it('formats metas with N/A, truncated seconds and the 30 s default', () => {
    expect(formatMetas({ bpm: null, keyscale: '', timesignature: '', duration: 45.6 })).toBe(
      '- bpm: N/A\n- timesignature: N/A\n- keyscale: N/A\n- duration: 45 seconds\n',
    );
    expect(formatMetas(null)).toBe('- bpm: N/A\n- timesignature: N/A\n- keyscale: N/A\n- duration: 30 seconds\n');
    expect(formatInstruction('Do this')).toBe('Do this:');
  });
});
