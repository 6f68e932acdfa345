// The music vocabulary of the CoT metadata: the BPM and duration ranges, time signatures, key
// scales and language codes the LM may write and the parameters accept. Kept apart from the FSM so
// parameter validation can use it without loading the constrained decoder.
export const BPM_RANGE = [30, 300] as const;
export const DURATION_MIN = 10;
export const DEFAULT_MAX_DURATION = 600;
export const VALID_TIME_SIGNATURES = [2, 3, 4, 6];

export const KEYSCALE_NOTES = ['A', 'B', 'C', 'D', 'E', 'F', 'G'];
export const VALID_KEYSCALES: string[] = KEYSCALE_NOTES.flatMap((n) =>
  ['', '#', 'b', '♯', '♭'].flatMap((acc) => ['major', 'minor'].map((mode) => `${n}${acc} ${mode}`)),
);
export const VALID_LANGUAGES = [
  'ar',
  'az',
  'bg',
  'bn',
  'ca',
  'cs',
  'da',
  'de',
  'el',
  'en',
  'es',
  'fa',
  'fi',
  'fr',
  'he',
  'hi',
  'hr',
  'ht',
  'hu',
  'id',
  'is',
  'it',
  'ja',
  'ko',
  'la',
  'lt',
  'ms',
  'ne',
  'nl',
  'no',
  'pa',
  'pl',
  'pt',
  'ro',
  'ru',
  'sa',
  'sk',
  'sr',
  'sv',
  'sw',
  'ta',
  'te',
  'th',
  'tl',
  'tr',
  'uk',
  'ur',
  'vi',
  'yue',
  'zh',
  'unknown',
];

/** Whether a metadata string means "not given": empty, blank or "N/A" in any case (as upstream reads it). */
export function isUnsetMeta(s: string): boolean {
  const t = s.trim().toLowerCase();
  return t === '' || t === 'n/a';
}

const KEY_RE = /^([A-Ga-g])(#|♯|b|♭)?\s*([A-Za-z]*)$/;

/**
 * A key in any of the spellings people write ("C Major", "c major", "Am", "F# minor", "Bb",
 * "C#m", "Ebmaj"): the canonical "<note> <major|minor>" name, or null when it is not a key.
 * Only used to validate; the user's string is what the prompts carry.
 */
export function parseKeyscale(s: string): string | null {
  const m = KEY_RE.exec(s.trim());
  if (!m) return null;
  const word = m[3];
  const lower = word.toLowerCase();
  let mode: 'major' | 'minor' | null = null;
  if (word === '' || word === 'M' || lower === 'maj' || lower === 'major') mode = 'major';
  else if (word === 'm' || lower === 'min' || lower === 'minor') mode = 'minor';
  if (!mode) return null;
  return `${m[1].toUpperCase()}${m[2] ?? ''} ${mode}`;
}

/** Time signatures as written: beats per bar ("4") or a fraction ("4/4"; "6/8" is upstream's 6). */
export const TIME_SIGNATURE_FORMS = ['2', '3', '4', '6', '2/4', '3/4', '4/4', '6/8'];

/** The beats per bar of a time signature string, or null when it is not one of TIME_SIGNATURE_FORMS. */
export function parseTimeSignature(s: string): number | null {
  const t = s.trim();
  return TIME_SIGNATURE_FORMS.includes(t) ? Number(t.split('/')[0]) : null;
}
