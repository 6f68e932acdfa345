// Prompt builders: task instructions (UPSTREAM.md: Task types) and the metas block rules
// (UPSTREAM.md: Text encoder and caption prompt).
import { describe, expect, it } from 'vitest';
import {
  ditInstruction,
  formatInstruction,
  formatMetas,
  lmCotPrompt,
  lmFormatPrompt,
  lmInspirePrompt,
  lmUnderstandPrompt,
  type ChatRenderer,
} from '../src/pipeline/conditioning/prompts.js';

/** Shows the messages as role/content pairs, so the expectations read like upstream's f-strings. */
const show: ChatRenderer = (messages, { addGenerationPrompt }) =>
  messages.map((m) => `[${m.role}]${m.content}`).join('') + (addGenerationPrompt ? '[assistant]' : '');

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

  it("LM helper prompts with empty and odd input, as upstream's builders write them", () => {
    const inspire = "[system]# Instruction\nExpand the user's input into a more detailed and specific musical description:\n\n[user]";
    // An empty or blank query is "NO USER INPUT"; any other query goes in verbatim, spaces kept.
    expect(lmInspirePrompt(show, '', false)).toBe(`${inspire}NO USER INPUT\n\ninstrumental: false[assistant]`);
    expect(lmInspirePrompt(show, ' \n ', true)).toBe(`${inspire}NO USER INPUT\n\ninstrumental: true[assistant]`);
    expect(lmInspirePrompt(show, ' lofi ', false)).toBe(`${inspire} lofi \n\ninstrumental: false[assistant]`);
    const format = "[system]# Instruction\nFormat the user's input into a more detailed and specific musical description:\n\n[user]";
    expect(lmFormatPrompt(show, ' ', '')).toBe(`${format}# Caption\nNO USER INPUT\n\n# Lyric\n[Instrumental][assistant]`);
    expect(lmFormatPrompt(show, 'rock', ' la ')).toBe(`${format}# Caption\nrock\n\n# Lyric\n la [assistant]`);
    expect(lmUnderstandPrompt(show, 'NO USER INPUT')).toBe(
      '[system]# Instruction\nUnderstand the given musical conditions and describe the audio semantics accordingly:\n\n[user]NO USER INPUT[assistant]',
    );
    // generate_music's CoT prompt takes an empty caption as is.
    expect(lmCotPrompt(show, '', '[Instrumental]')).toBe(
      '[system]# Instruction\nGenerate audio semantic tokens based on the given conditions:\n\n[user]# Caption\n\n\n# Lyric\n[Instrumental]\n[assistant]',
    );
  });
});
