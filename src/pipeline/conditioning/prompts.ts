// The text prompts of the pipeline, built exactly as upstream does (UPSTREAM.md: Text encoder and
// caption prompt, Lyrics, 5 Hz LM, CoT YAML, Cover strength and noise, Task types): the DiT caption
// and lyrics prompts for the text encoder, and the LM chat prompts for each mode with their
// unconditional (CFG) forms.
import { formatCot, type CotValue } from '../lm/cot-yaml.js';

export const TASK_TYPES = ['text2music', 'repaint', 'cover', 'cover-nofsq', 'extract', 'lego', 'complete'] as const;
export type TaskType = (typeof TASK_TYPES)[number];

export const TRACK_NAMES = [
  'woodwinds',
  'brass',
  'fx',
  'synth',
  'strings',
  'percussion',
  'keyboard',
  'guitar',
  'bass',
  'drums',
  'backing_vocals',
  'vocals',
] as const;

export const DEFAULT_DIT_INSTRUCTION = 'Fill the audio semantic mask based on the given conditions:';
export const DEFAULT_LM_INSTRUCTION = 'Generate audio semantic tokens based on the given conditions:';
export const DEFAULT_LM_UNDERSTAND_INSTRUCTION = 'Understand the given musical conditions and describe the audio semantics accordingly:';
export const DEFAULT_LM_INSPIRED_INSTRUCTION = "Expand the user's input into a more detailed and specific musical description:";
export const DEFAULT_LM_REWRITE_INSTRUCTION = "Format the user's input into a more detailed and specific musical description:";
export const DEFAULT_NEGATIVE_PROMPT = 'NO USER INPUT';

/** The DiT instruction of a task (UPSTREAM.md: Task types); track names are upper-cased. */
export function ditInstruction(task: TaskType, tracks: readonly string[] = []): string {
  const names = tracks.map((t) => t.toUpperCase());
  switch (task) {
    case 'text2music':
      return DEFAULT_DIT_INSTRUCTION;
    case 'repaint':
      return 'Repaint the mask area based on the given conditions:';
    case 'cover':
    case 'cover-nofsq':
      return 'Generate audio semantic tokens based on the given conditions:';
    case 'extract':
      return names.length ? `Extract the ${names[0]} track from the audio:` : 'Extract the track from the audio:';
    case 'lego':
      return names.length ? `Generate the ${names[0]} track based on the audio context:` : 'Generate the track based on the audio context:';
    case 'complete':
      return names.length ? `Complete the input track with ${names.join(' | ')}:` : 'Complete the input track:';
  }
}

export interface Metas {
  bpm?: number | string | null;
  timesignature?: number | string | null;
  keyscale?: string | null;
  /** Seconds; fractional values are truncated. */
  duration?: number | null;
}

function metaValue(v: number | string | null | undefined): string {
  return v === null || v === undefined || v === '' ? 'N/A' : String(v);
}

/** The `# Metas` block: bpm, time signature, key, duration (default 30 seconds). */
export function formatMetas(m: Metas | null | undefined): string {
  const d = m?.duration;
  const seconds = d === null || d === undefined || !Number.isFinite(d) ? 30 : Math.trunc(d);
  return (
    `- bpm: ${metaValue(m?.bpm)}\n` +
    `- timesignature: ${metaValue(m?.timesignature)}\n` +
    `- keyscale: ${metaValue(m?.keyscale)}\n` +
    `- duration: ${seconds} seconds\n`
  );
}

/** Appends the trailing colon upstream's _format_instruction guarantees. */
export function formatInstruction(instruction: string): string {
  const t = instruction.trim();
  return t.endsWith(':') ? t : `${t}:`;
}

/** SFT_GEN_PROMPT: the caption prompt of the text encoder. */
export function ditCaptionPrompt(instruction: string, caption: string, metas: string): string {
  return `# Instruction\n${formatInstruction(instruction)}\n\n# Caption\n${caption}\n\n# Metas\n${metas}<|endoftext|>\n`;
}

/** The lyrics prompt whose ids go through the text encoder's embedding table. */
export function ditLyricsPrompt(language: string, lyrics: string): string {
  return `# Languages\n${language}\n\n# Lyric\n${lyrics}<|endoftext|>`;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Renders chat messages with the checkpoint's chat template (src/text provides one). */
export type ChatRenderer = (messages: ChatMessage[], opts: { addGenerationPrompt: boolean }) => string;

function chat(render: ChatRenderer, instruction: string, user: string): string {
  return render(
    [
      { role: 'system', content: `# Instruction\n${instruction}\n\n` },
      { role: 'user', content: user },
    ],
    { addGenerationPrompt: true },
  );
}

function isCustomNegative(neg: string | null | undefined): neg is string {
  return !!neg && neg.trim() !== '' && neg !== DEFAULT_NEGATIVE_PROMPT;
}

/** Phase 1 (CoT metadata) prompt and its unconditional form (UPSTREAM.md: 5 Hz LM). */
export function lmCotPrompt(render: ChatRenderer, caption: string, lyrics: string): string {
  return chat(render, DEFAULT_LM_INSTRUCTION, `# Caption\n${caption}\n\n# Lyric\n${lyrics}\n`);
}
export function lmCotUncondPrompt(render: ChatRenderer, lyrics: string, negativePrompt: string | null = DEFAULT_NEGATIVE_PROMPT): string {
  const user = isCustomNegative(negativePrompt) ? `# Caption\n${negativePrompt}\n\n# Lyric\n${lyrics}\n` : `# Lyric\n${lyrics}\n`;
  return chat(render, DEFAULT_LM_INSTRUCTION, user);
}

/** Phase 2 (codes) prompt: the assistant turn is left open after the CoT block. */
export function lmCodesPrompt(render: ChatRenderer, caption: string, lyrics: string, cot: string): string {
  return chat(render, DEFAULT_LM_INSTRUCTION, `# Caption\n${caption}\n\n# Lyric\n${lyrics}\n`) + `${cot}\n\n`;
}
export function lmCodesUncondPrompt(render: ChatRenderer, negativePrompt: string | null = DEFAULT_NEGATIVE_PROMPT): string {
  const user = negativePrompt && negativePrompt.trim() !== '' ? negativePrompt : DEFAULT_NEGATIVE_PROMPT;
  return chat(render, DEFAULT_LM_INSTRUCTION, user) + '<think>\n\n</think>\n\n';
}

/** understand: audio codes -> metadata and lyrics. */
export function lmUnderstandPrompt(render: ChatRenderer, audioCodes: string): string {
  return chat(render, DEFAULT_LM_UNDERSTAND_INSTRUCTION, audioCodes);
}
/** create_sample / inspiration: a free-form query. */
export function lmInspirePrompt(render: ChatRenderer, query: string, instrumental: boolean): string {
  const q = query.trim() === '' ? DEFAULT_NEGATIVE_PROMPT : query;
  return chat(render, DEFAULT_LM_INSPIRED_INSTRUCTION, `${q}\n\ninstrumental: ${instrumental ? 'true' : 'false'}`);
}
/** format_sample: rewrite a caption and lyrics. */
export function lmFormatPrompt(render: ChatRenderer, caption: string, lyrics: string): string {
  const c = caption.trim() === '' ? DEFAULT_NEGATIVE_PROMPT : caption;
  const l = lyrics.trim() === '' ? '[Instrumental]' : lyrics;
  return chat(render, DEFAULT_LM_REWRITE_INSTRUCTION, `# Caption\n${c}\n\n# Lyric\n${l}`);
}
/** The unconditional prompt of understand / inspire / format (UPSTREAM.md: 5 Hz LM). */
export function lmHelperUncondPrompt(render: ChatRenderer, instruction: string): string {
  return chat(render, instruction, DEFAULT_NEGATIVE_PROMPT);
}

export { formatCot, type CotValue };
