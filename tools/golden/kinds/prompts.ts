// Golden kind prompts: every prompt string the pipeline builds (DiT caption and lyrics prompts,
// the non-cover caption, LM CoT / codes / understand / inspire / format prompts and their
// unconditional forms, CoT YAML blocks) must equal upstream's text exactly, and its ids the ids
// upstream fed the model.
import { TextTokenizer } from '../../../src/text/index.js';
import {
  DEFAULT_DIT_INSTRUCTION,
  DEFAULT_LM_INSPIRED_INSTRUCTION,
  DEFAULT_LM_REWRITE_INSTRUCTION,
  DEFAULT_LM_UNDERSTAND_INSTRUCTION,
  ditCaptionPrompt,
  ditLyricsPrompt,
  formatCot,
  formatMetas,
  lmCodesPrompt,
  lmCodesUncondPrompt,
  lmCotPrompt,
  lmCotUncondPrompt,
  lmFormatPrompt,
  lmHelperUncondPrompt,
  lmInspirePrompt,
  lmUnderstandPrompt,
  type ChatRenderer,
  type Metas,
} from '../../../src/pipeline/conditioning/prompts.js';
import { captionIds, lyricIds, nonCoverCaptionIds } from '../../../src/pipeline/conditioning/text-conditioning.js';
import { GoldenCaseError, type Actual, type CaseKind } from '../case.js';

interface Item {
  name: string;
  kind: string;
  string: string;
  song?: string;
  task?: string;
  instruction?: string;
  caption?: string | null;
  lyrics?: string;
  language?: string;
  metas_user?: Metas;
  negative_prompt?: string;
  cot_text?: string;
  metadata?: Record<string, string>;
  audio_codes?: string | null;
  query?: string | null;
  instrumental?: boolean | null;
}

const kind: CaseKind = {
  cases: ['prompts'],
  async run(c) {
    const textTok = TextTokenizer.load(c.setPath('checkpoints/Qwen3-Embedding-tokenizer'));
    const lmTok = TextTokenizer.load(c.setPath('checkpoints/acestep-5Hz-lm-tokenizer'));
    const render: ChatRenderer = (messages, o) => lmTok.applyChatTemplate(messages, { addGenerationPrompt: o.addGenerationPrompt });
    const items = c.params<{ items: Item[] }>().items;
    // Songs carry caption/lyrics on their LM CoT item; prompts of the same song reuse them.
    const songOf = (song: string | undefined, what: string): Item => {
      const s = items.find((i) => i.kind === 'lm_cot' && (song === undefined || i.song === song));
      if (!s) throw new GoldenCaseError(c.dir, `no lm_cot item for song ${song} (needed by ${what})`);
      return s;
    };
    const out: Actual[] = [];
    const mismatches: string[] = [];
    for (const it of items) {
      let text: string;
      // DiT prompts set their own ids (text-encoder tokenizer and its caption/lyric rules); every
      // LM prompt is tokenized by the LM tokenizer without added special tokens, after the switch.
      let ids: number[] | undefined;
      switch (it.kind) {
        case 'dit_caption_prompt':
          text = ditCaptionPrompt(it.instruction!, it.caption!, formatMetas(it.metas_user));
          ids = captionIds(textTok, text);
          break;
        case 'dit_caption_prompt_non_cover': {
          const cover = items.find((i) => i.kind === 'dit_caption_prompt' && i.song === it.song && i.task === it.task);
          if (!cover) throw new GoldenCaseError(c.dir, `${it.name}: no cover caption item for song ${it.song}`);
          text = ditCaptionPrompt(DEFAULT_DIT_INSTRUCTION, cover.caption!, formatMetas(cover.metas_user));
          const coverText = ditCaptionPrompt(cover.instruction!, cover.caption!, formatMetas(cover.metas_user));
          ids = nonCoverCaptionIds(textTok, text, captionIds(textTok, coverText).length);
          break;
        }
        case 'dit_lyrics_prompt':
          text = ditLyricsPrompt(it.language!, it.lyrics!);
          ids = lyricIds(textTok, text);
          break;
        case 'lm_cot':
          text = lmCotPrompt(render, it.caption!, it.lyrics!);
          break;
        case 'lm_cot_uncond':
        case 'lm_cot_uncond_negprompt':
          text = lmCotUncondPrompt(render, it.lyrics!, it.negative_prompt ?? null);
          break;
        case 'cot_yaml':
          text = formatCot(it.metadata!);
          break;
        case 'lm_codes': {
          const s = songOf(it.song, it.name);
          text = lmCodesPrompt(render, s.caption!, s.lyrics!, it.cot_text!);
          break;
        }
        case 'lm_codes_uncond':
        case 'lm_codes_uncond_negprompt':
          text = lmCodesUncondPrompt(render, it.negative_prompt ?? null);
          break;
        case 'lm_understand':
          text = lmUnderstandPrompt(render, it.audio_codes!);
          break;
        case 'lm_understand_uncond':
          text = lmHelperUncondPrompt(render, DEFAULT_LM_UNDERSTAND_INSTRUCTION);
          break;
        case 'lm_inspire':
          text = lmInspirePrompt(render, it.query ?? '', it.instrumental ?? false);
          break;
        case 'lm_inspire_uncond':
          text = lmHelperUncondPrompt(render, DEFAULT_LM_INSPIRED_INSTRUCTION);
          break;
        case 'lm_format': {
          const s = it.caption !== undefined && it.caption !== null ? it : songOf(undefined, it.name);
          text = lmFormatPrompt(render, s.caption!, s.lyrics!);
          break;
        }
        case 'lm_format_uncond':
          text = lmHelperUncondPrompt(render, DEFAULT_LM_REWRITE_INSTRUCTION);
          break;
        default:
          throw new GoldenCaseError(c.dir, `${it.name}: unknown prompt kind '${it.kind}'`);
      }
      ids ??= lmTok.encode(text, { addSpecialTokens: false });
      if (text !== it.string) mismatches.push(`${it.name}: ${JSON.stringify(text)} != ${JSON.stringify(it.string)}`);
      out.push({ name: `${it.name}__ids`, value: ids, tol: 'exact' });
    }
    if (mismatches.length) throw new GoldenCaseError(c.dir, `prompt strings differ: ${mismatches.join('; ')}`);
    return out;
  },
};

export default kind;
