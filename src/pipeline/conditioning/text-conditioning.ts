// Token ids of the DiT text conditioning (UPSTREAM.md: Text encoder and caption prompt, Lyrics):
// caption prompts truncated to 256 ids with the text encoder's appended <|endoftext|>, lyrics to
// 2048, and the non-cover caption cut or right-padded to the cover caption's length.

export const CAPTION_MAX_IDS = 256;
export const LYRICS_MAX_IDS = 2048;
export const TEXT_PAD_ID = 151643;

interface TextEncoderTokenizer {
  encode(text: string, opts?: { addSpecialTokens?: boolean; maxLength?: number }): number[];
  readonly padTokenId: number | null;
}

export function captionIds(tok: TextEncoderTokenizer, prompt: string): number[] {
  return tok.encode(prompt, { maxLength: CAPTION_MAX_IDS });
}

export function lyricIds(tok: TextEncoderTokenizer, prompt: string): number[] {
  return tok.encode(prompt, { maxLength: LYRICS_MAX_IDS });
}

/** Ids of the non-cover caption, cut or right-padded (pad id) to `length` (the cover caption's). */
export function nonCoverCaptionIds(tok: TextEncoderTokenizer, prompt: string, length: number): number[] {
  const ids = captionIds(tok, prompt).slice(0, length);
  const pad = tok.padTokenId ?? TEXT_PAD_ID;
  while (ids.length < length) ids.push(pad);
  return ids;
}
