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
  'ar', 'az', 'bg', 'bn', 'ca', 'cs', 'da', 'de', 'el', 'en', 'es', 'fa', 'fi', 'fr', 'he', 'hi', 'hr', 'ht', 'hu', 'id', 'is', 'it',
  'ja', 'ko', 'la', 'lt', 'ms', 'ne', 'nl', 'no', 'pa', 'pl', 'pt', 'ro', 'ru', 'sa', 'sk', 'sr', 'sv', 'sw', 'ta', 'te', 'th', 'tl',
  'tr', 'uk', 'ur', 'vi', 'yue', 'zh', 'unknown',
];
