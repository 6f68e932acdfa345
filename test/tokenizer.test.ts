// Tokenizers: the real Qwen3 tokenizer.json and the two derived tokenizers of the fixtures (text
// encoder with appended <|endoftext|>, LM with <|audio_code_N|> tokens) against (a) the Rust
// `tokenizers` library as an independent reference on hard strings and (b) the ids the upstream
// Python pipeline produced for every prompt of the `prompts` golden case. Ids must match exactly.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tokenizer as RustTokenizer } from 'tokenizers';
import { TextTokenizer, TokenizerError } from '../src/text/index.js';
import { SafetensorsFile } from '../src/io/safetensors.js';

const ckpts = join(import.meta.dirname, 'fixtures', 'golden', 'checkpoints');
const baseDir = join(ckpts, 'qwen3-tokenizer');
const textDir = join(ckpts, 'Qwen3-Embedding-tokenizer');
const lmDir = join(ckpts, 'acestep-5Hz-lm-tokenizer');

const base = TextTokenizer.load(baseDir);
const text = TextTokenizer.load(textDir);
const lm = TextTokenizer.load(lmDir);

// The Rust reference is built from the same derivation, written out independently here.
const baseJson = JSON.parse(readFileSync(join(baseDir, 'tokenizer.json'), 'utf8'));
const rustBase = RustTokenizer.fromString(JSON.stringify(baseJson));
const textDerive = JSON.parse(readFileSync(join(textDir, 'derive.json'), 'utf8'));
const rustText = RustTokenizer.fromString(JSON.stringify({ ...baseJson, post_processor: textDerive.post_processor }));
const lmAdded = [...baseJson.added_tokens];
for (let n = 0; n < 65535; n++) {
  lmAdded.push({
    id: 151669 + n,
    content: `<|audio_code_${n}|>`,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
}
const rustLm = RustTokenizer.fromString(JSON.stringify({ ...baseJson, added_tokens: lmAdded }));

const HARD = [
  '',
  'Hello, world!',
  '你好，世界！这是一首关于夏天的歌。',
  '안녕하세요, 반갑습니다. 노래해요 🎵',
  'emoji 👩‍👩‍👧‍👦 🇯🇵 ❤️‍🔥 and 🤖',
  'digits 1234567890 3.14159 1,000,000 120bpm',
  'tabs\tand  double  spaces   triple\n\n\nnewlines \r\n crlf   ',
  '    leading and trailing    ',
  "it's, we're, I'LL, they've, she'd",
  '<|im_start|>system\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n',
  '<|endoftext|>\n<|endoftext|>',
  'x<|audio_code_0|><|audio_code_63999|> <|audio_code_65534|><|audio_code_65535|><|audio_code_007|>',
  'Ünïcödé café naïve Straße ﬁ ligature ＦＵＬＬＷＩＤＴＨ',
  '[Verse 1]\nCity lights — “quoted” ‘text’ … ¿qué? ¡sí!',
  'مرحبا بالعالم עברית हिन्दी ไทย',
  '```code``` `tick` ~!@#$%^&*()_+{}|:"<>?',
];

describe('tokenizer: against the Rust tokenizers library', () => {
  for (const [name, ours, rust] of [
    ['qwen3 base', base, rustBase],
    ['qwen3-embedding (derived)', text, rustText],
    ['lm with audio codes (derived)', lm, rustLm],
  ] as const) {
    it(`${name}: ids equal on hard strings, with and without special tokens`, async () => {
      for (const s of HARD) {
        for (const add of [true, false]) {
          const want = (await rust.encode(s, null, { addSpecialTokens: add })).getIds();
          expect(ours.encode(s, { addSpecialTokens: add }), JSON.stringify(s)).toEqual(Array.from(want));
        }
      }
    });
    it(`${name}: decode round-trips and agrees with Rust`, async () => {
      for (const s of HARD) {
        const ids = ours.encode(s, { addSpecialTokens: false });
        const got = ours.decode(ids);
        expect(got).toBe(s);
        expect(got).toBe(await rust.decode(ids, false));
      }
    });
  }

  it('derived vocabularies have the documented sizes and ids', () => {
    expect(base.vocabSize).toBe(151669);
    expect(lm.vocabSize).toBe(217204);
    expect(lm.tokenToId('<|audio_code_0|>')).toBe(151669);
    expect(lm.tokenToId('<|audio_code_65534|>')).toBe(151669 + 65534);
    expect(lm.idToToken(151669 + 4242)).toBe('<|audio_code_4242|>');
    expect(lm.isSpecial(151669 + 1)).toBe(true);
    expect(text.encode('a')).toEqual([64, 151643]);
    expect(lm.eosTokenId).toBe(151645);
    expect(lm.padTokenId).toBe(151643);
    expect(base.tokenToId('<|audio_code_0|>')).toBeNull();
  });
});

describe('tokenizer: upstream prompt ids (golden case prompts)', () => {
  const caseDir = join(import.meta.dirname, 'fixtures', 'golden', 'cases', 'prompts');
  const manifest = JSON.parse(readFileSync(join(caseDir, 'manifest.json'), 'utf8'));
  const items = manifest.params.items as { name: string; kind: string; string: string; ids_tensor: string; truncated?: boolean }[];
  const out = SafetensorsFile.open(join(caseDir, 'outputs.safetensors'));
  const expected = (n: string) => Array.from(out.get(n).dataSync() as BigInt64Array, Number);

  it('every DiT caption / lyric prompt and every LM prompt tokenizes to the upstream ids', () => {
    let checked = 0;
    for (const it of items) {
      let ids: number[];
      // Caption prompts: max_length 256 (UPSTREAM.md: Text encoder and caption prompt); lyrics:
      // 2048 (UPSTREAM.md: Lyrics); LM prompts: no limit, no EOS.
      if (it.kind === 'dit_caption_prompt') ids = text.encode(it.string, { maxLength: 256 });
      else if (it.kind === 'dit_lyrics_prompt') ids = text.encode(it.string, { maxLength: 2048 });
      else if (it.kind.startsWith('lm_')) ids = lm.encode(it.string);
      else continue; // non-cover captions are cut/padded by the pipeline; CoT YAML items are strings
      expect(ids, it.name).toEqual(expected(it.ids_tensor));
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(38);
  });

  it('truncation keeps the first max-1 text ids and the appended <|endoftext|>', () => {
    const it = items.find((i) => i.truncated)!;
    const ids = text.encode(it.string, { maxLength: 256 });
    const full = text.encode(it.string);
    expect(ids.length).toBe(256);
    expect(ids.slice(0, 255)).toEqual(full.slice(0, 255));
    expect(ids[255]).toBe(151643);
  });

  it('the chat template renders the LM prompts exactly', () => {
    const cot = items.find((i) => i.kind === 'lm_cot') as unknown as { string: string; caption: string; lyrics: string };
    const instr = 'Generate audio semantic tokens based on the given conditions:';
    const s = lm.applyChatTemplate(
      [
        { role: 'system', content: `# Instruction\n${instr}\n\n` },
        { role: 'user', content: `# Caption\n${cot.caption}\n\n# Lyric\n${cot.lyrics}\n` },
      ],
      { addGenerationPrompt: true },
    );
    expect(s).toBe(cot.string);
  });
});

describe('tokenizer: batches and errors', () => {
  it('pads on the requested side with the pad token and a 0/1 mask', () => {
    const a = lm.encode('NO USER INPUT');
    const b = lm.encode('# Caption\nlonger text here');
    const left = lm.encodeBatch(['NO USER INPUT', '# Caption\nlonger text here'], { side: 'left' });
    const n = b.length - a.length;
    expect(n).toBeGreaterThan(0);
    expect(left.ids[0]).toEqual([...new Array(n).fill(151643), ...a]);
    expect(left.attentionMask[0]).toEqual([...new Array(n).fill(0), ...new Array(a.length).fill(1)]);
    expect(left.ids[1]).toEqual(b);
    const right = lm.encodeBatch(['NO USER INPUT', '# Caption\nlonger text here'], { side: 'right' });
    expect(right.ids[0]).toEqual([...a, ...new Array(n).fill(151643)]);
  });

  it('rejects bad folders, bad derivations and out-of-range ids with TokenizerError', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tok-'));
    expect(() => TextTokenizer.load(dir)).toThrow(TokenizerError);
    writeFileSync(
      join(dir, 'derive.json'),
      JSON.stringify({
        base: join(baseDir, 'tokenizer.json'),
        added_audio_code_tokens: { first_id: 151643, count: 2, content: '<|c_{N}|>' },
      }),
    );
    expect(() => TextTokenizer.load(dir)).toThrow(/reuses id 151643/);
    writeFileSync(join(dir, 'derive.json'), JSON.stringify({ base: join(baseDir, 'tokenizer.json'), bogus: 1 }));
    expect(() => TextTokenizer.load(dir)).toThrow(/unknown derivation key 'bogus'/);
    writeFileSync(join(dir, 'derive.json'), '{not json');
    expect(() => TextTokenizer.load(dir)).toThrow(/derive.json is not valid JSON/);
    expect(() => lm.decode([217204])).toThrow(/outside the vocabulary/);
  });
});
