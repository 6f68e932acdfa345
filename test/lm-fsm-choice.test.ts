// Where the metadata FSM itself chooses (spec 12.7): the language field's first token is the
// argmax over the languages' first tokens, and on a tie (an invalid or unlisted language asked for,
// or flat logits) upstream's torch.argmax over list(set) takes the first of the tie in CPython's set
// order. The expected orders below come from CPython 3.11 itself (`s = set(); s.add(i) ...;
// list(s)`), an independent reference; the FSM runs on the real LM tokenizer's tables.
import { describe, expect, it } from 'vitest';
import { TextTokenizer } from '../src/text/index.js';
import { FsmTables, fsmTokenizer, MetadataFsm } from '../src/pipeline/lm/fsm.js';
import { parseLmOutput } from '../src/pipeline/lm/output.js';
import { pythonSetOrder } from '../src/pipeline/lm/python-set-order.js';

describe('pythonSetOrder matches CPython 3.11', () => {
  it('for collisions, resizes and large ids', () => {
    const cases: [number[], number[]][] = [
      [
        [100, 3, 35],
        [35, 3, 100],
      ],
      [
        [9, 1],
        [9, 1],
      ],
      [
        [1, 9],
        [1, 9],
      ],
      [
        [5, 5, 13, 21, 29, 37, 45],
        [37, 5, 13, 45, 21, 29],
      ],
      // The languages' first tokens of the ACE-Step LM tokenizer, in VALID_LANGUAGES order.
      [
        [
          796, 12376, 8951, 40597, 2162, 10532, 2994, 409, 655, 662, 1531, 2218, 9136, 1422, 566, 15588, 18026, 34323, 32965, 877, 374, 432,
          11937, 15236, 1187, 25175, 9829, 834, 20216, 902, 7106, 625, 10817, 926, 11122, 822, 1901, 18962, 13559, 2021, 9450, 1013, 270,
          29796, 489, 14670, 4335, 3275, 379, 59748, 9788,
        ],
        [
          15236, 902, 1422, 655, 270, 18962, 34323, 40597, 662, 409, 796, 926, 11937, 1187, 10532, 2218, 9136, 432, 2994, 566, 822, 9788,
          10817, 834, 7106, 32965, 3275, 14670, 25175, 12376, 15588, 9829, 2021, 29796, 59748, 489, 18026, 9450, 877, 1901, 4335, 625, 2162,
          11122, 379, 13559, 374, 8951, 20216, 1013, 1531,
        ],
      ],
    ];
    for (const [adds, order] of cases) expect(pythonSetOrder(adds)).toEqual(order);
  });
});

describe('the FSM language choice', () => {
  const tok = TextTokenizer.load(new URL('./fixtures/golden/checkpoints/acestep-5Hz-lm-tokenizer', import.meta.url).pathname);
  const tables = new FsmTables(fsmTokenizer(tok));

  /** Runs the CoT FSM over flat logits, lifting `want` by 1 at the language field's first step. */
  function cotLanguage(want: string | null): string {
    const fsm = new MetadataFsm(tables, {
      phase: 'cot',
      stopAtReasoning: true,
      skipCaption: true,
      skipLanguage: false,
      skipGenres: true,
      targetDuration: null,
      userMetadata: { bpm: '120', duration: '30', keyscale: 'C major', timesignature: '4' },
    });
    const seq: number[] = [];
    // The value's first token as "language: {value}" splits (the space fuses into it).
    const ctx = tok.encode('language:', { addSpecialTokens: false }).length;
    const wantId = want === null ? -1 : tok.encode(`language: ${want}`, { addSpecialTokens: false })[ctx];
    const logits = new Float32Array(tables.tok.vocabSize);
    for (let step = 0; step < 120 && fsm.state !== 'COMPLETED' && fsm.state !== 'CODES_GENERATION'; step++) {
      logits.fill(0);
      const atLanguage = fsm.state === 'LANGUAGE_VALUE';
      if (atLanguage && wantId >= 0) logits[wantId] += 1;
      fsm.process(logits, seq);
      let best = -1;
      for (let i = 0; i < logits.length; i++) if (logits[i] !== -Infinity && (best < 0 || logits[i] > logits[best])) best = i;
      seq.push(best);
      fsm.update(best);
    }
    return String(parseLmOutput(tok.decode(seq)).metadata.language);
  }

  it('an allowed language wins the argmax', () => {
    expect(cotLanguage('en')).toBe('en');
    expect(cotLanguage('yue')).toBe('yue');
  });

  it('a tie goes to the first language in upstream set order (" ko"), not the first listed (" ar")', () => {
    // Flat logits, and a requested value whose token is no language's first token.
    expect(cotLanguage(null)).toBe('ko');
    expect(cotLanguage('xx')).toBe('ko');
    expect(tables.languageFirstTokens[0]).toBe(15236);
    expect(tok.decode([15236])).toBe(' ko');
  });
});
