// Examples for /create_random_sample: upstream draws one from its example files; these are our
// own, in the same two shapes (simple mode: a description; custom mode: caption, lyrics, metas).
export interface SimpleExample {
  description: string;
  instrumental: boolean;
  vocal_language: string;
}

export interface CustomExample {
  think: boolean;
  caption: string;
  lyrics: string;
  bpm: number;
  duration: number;
  keyscale: string;
  language: string;
  timesignature: string;
}

export const SIMPLE_EXAMPLES: SimpleExample[] = [
  { description: 'a slow lo-fi hip hop beat for studying, warm vinyl crackle', instrumental: true, vocal_language: 'unknown' },
  { description: 'an upbeat synth-pop song about a summer road trip', instrumental: false, vocal_language: 'en' },
  { description: 'a cinematic orchestral piece that builds to a heroic climax', instrumental: true, vocal_language: 'unknown' },
  { description: 'a mellow acoustic folk ballad about coming home', instrumental: false, vocal_language: 'en' },
  { description: 'energetic drum and bass with a rolling bassline', instrumental: true, vocal_language: 'unknown' },
];

export const CUSTOM_EXAMPLES: CustomExample[] = [
  {
    think: true,
    caption: 'bright indie pop, jangly guitars, handclaps, female vocals, cheerful',
    lyrics:
      '[verse]\nMorning light on the kitchen floor\nCoffee cups and an open door\n\n[chorus]\nWe are running, we are running\nInto the sun',
    bpm: 118,
    duration: 90,
    keyscale: 'G major',
    language: 'en',
    timesignature: '4',
  },
  {
    think: true,
    caption: 'dark synthwave, pulsing arpeggios, gated drums, male vocals, night drive',
    lyrics: '[verse]\nNeon rivers in the rain\nEvery mile erases pain\n\n[chorus]\nDrive, drive, till the city sleeps',
    bpm: 100,
    duration: 120,
    keyscale: 'A minor',
    language: 'en',
    timesignature: '4',
  },
  {
    think: false,
    caption: 'gentle piano solo, soft strings, reflective, ambient',
    lyrics: '[Instrumental]',
    bpm: 72,
    duration: 60,
    keyscale: 'D major',
    language: 'unknown',
    timesignature: '4',
  },
  {
    think: true,
    caption: 'waltz, accordion and violin, nostalgic, café in the evening',
    lyrics: '[verse]\nOne more dance before we go\nCandles burning soft and low',
    bpm: 140,
    duration: 75,
    keyscale: 'F major',
    language: 'en',
    timesignature: '3',
  },
];
