// Reading the LM's text back (UPSTREAM.md: LM output parsing): the audio-code string, the CoT
// metadata fields (YAML-ish lines with indented continuations; bpm/duration as integers when they
// parse) and, for understand/create-sample, the lyrics after `</think>`.

export interface LmMetadata {
  bpm?: number | string;
  caption?: string;
  duration?: number | string;
  genres?: string;
  keyscale?: string;
  language?: string;
  timesignature?: string;
  lyrics?: string;
}

const CODE_RE = /<\|audio_code_(\d+)\|>/g;

/** Joins a YAML-folded caption back into one line. */
export function collapseCaption(caption: string): string {
  return caption
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ');
}

function pyStrip(s: string): string {
  return s.replace(/^\s+|\s+$/g, '');
}

function toIntOrString(v: string): number | string {
  const s = pyStrip(v);
  return /^[-+]?\d+$/.test(s) ? Number.parseInt(s, 10) : s;
}

/** Metadata and the concatenated `<|audio_code_N|>` string of an LM output. */
export function parseLmOutput(text: string): { metadata: LmMetadata; audioCodes: string } {
  const audioCodes = [...text.matchAll(CODE_RE)].map((m) => m[0]).join('');
  const think = /<think>([\s\S]*?)<\/think>/.exec(text) ?? /<reasoning>([\s\S]*?)<\/reasoning>/.exec(text);
  let reasoning = think ? pyStrip(think[1]) : '';
  if (!reasoning) reasoning = pyStrip(text.includes('<|audio_code_') ? text.split('<|audio_code_')[0] : text);
  const metadata: LmMetadata = {};
  let key: string | null = null;
  let lines: string[] = [];
  const save = () => {
    if (key && lines.length) {
      const value = lines.join('\n');
      switch (key) {
        case 'bpm':
        case 'duration':
          metadata[key] = toIntOrString(value);
          break;
        case 'caption':
          metadata.caption = collapseCaption(value);
          break;
        case 'genres':
        case 'keyscale':
        case 'language':
        case 'timesignature':
        case 'lyrics':
          metadata[key] = pyStrip(value);
          break;
      }
    }
    key = null;
    lines = [];
  };
  for (const line of reasoning.split('\n')) {
    if (pyStrip(line).startsWith('<')) continue;
    if (line !== '' && !/^\s/.test(line) && line.includes(':')) {
      save();
      const at = line.indexOf(':');
      key = pyStrip(line.slice(0, at)).toLowerCase();
      const first = line.slice(at + 1);
      if (pyStrip(first)) lines.push(first);
    } else if (line.startsWith(' ') || line.startsWith('\t')) {
      if (key) lines.push(line);
    }
  }
  save();
  return { metadata, audioCodes };
}

/** The lyrics after `</think>` without a leading "# Lyric(s)" header or a trailing `<|im_end|>`. */
export function extractLyrics(text: string): string {
  const at = text.indexOf('</think>');
  if (at < 0) return '';
  let after = pyStrip(text.slice(at + '</think>'.length));
  after = after.replace(/^#\s*Lyri[c|cs]?\s*\n/i, '');
  after = after.replace(/<\|im_end\|>\s*$/, '');
  return pyStrip(after);
}
