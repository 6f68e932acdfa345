// The song history (localStorage, survives reloads) and the song cards: waveform and player,
// metadata, caption and lyrics, download, use as source / reference, understand, remove.
import { audioBlob } from './api.js';
import type { ResultItem } from './jobs.js';
import { readList, writeList } from './store.js';
import { computePeaks, drawWave, type WaveView } from './wave.js';

const SONG_STORE = 'acestep.songs';
const MAX_SONGS = 60;

export interface Understanding {
  caption?: string;
  lyrics?: string;
  bpm?: unknown;
  keyscale?: unknown;
  timesignature?: unknown;
  duration?: unknown;
  language?: unknown;
  error?: string;
}

export interface Song {
  id: string;
  task_id: string;
  file: string;
  mode: string;
  created: number;
  caption: string;
  lyrics: string;
  seed: string;
  bpm?: unknown;
  keyscale?: unknown;
  timesignature?: unknown;
  duration?: unknown;
  dit_model?: string;
  lm_model?: string;
  understanding?: Understanding;
}

export function loadSongs(): Song[] {
  return readList<Song>(SONG_STORE, (s) => typeof (s as Song | null)?.file === 'string' && typeof (s as Song).id === 'string');
}

export function saveSongs(songs: Song[]): void {
  writeList(SONG_STORE, songs.slice(0, MAX_SONGS));
}

const shown = (v: unknown): string => (v === undefined || v === null || v === '' || v === 'N/A' ? '' : String(v));

/** Songs from a finished job's items; item i's seed is the i-th of the comma-separated `seed_value`. */
export function songsFromItems(taskId: string, mode: string, items: ResultItem[]): Song[] {
  return items.map((it, i) => {
    const m = it.metas ?? {};
    const seeds = String(it.seed_value ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    return {
      id: `${taskId}#${i}`,
      task_id: taskId,
      file: it.file,
      mode,
      created: Date.now(),
      caption: String(it.prompt ?? m.prompt ?? ''),
      lyrics: String(it.lyrics ?? m.lyrics ?? ''),
      seed: seeds[i] ?? seeds[0] ?? '',
      bpm: m.bpm,
      keyscale: m.keyscale ?? m.key_scale,
      timesignature: m.timesignature ?? m.time_signature,
      duration: m.duration,
      dit_model: it.dit_model,
      lm_model: it.lm_model,
    };
  });
}

export function songTitle(s: Song): string {
  const c = s.caption.trim();
  const t = c ? (c.length > 60 ? `${c.slice(0, 57)}…` : c) : 'Untitled song';
  return `${t} (seed ${s.seed || '?'})`;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> & Record<string, unknown> = {},
  ...kids: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k.startsWith('aria') || k.startsWith('data-') || k === 'role')
      e.setAttribute(
        k.replace(/^aria([A-Z])/, (_, c: string) => `aria-${c.toLowerCase()}`),
        String(v),
      );
    else (e as unknown as Record<string, unknown>)[k] = v;
  }
  e.append(...kids);
  return e;
}
export { el };

function metaList(pairs: [string, unknown][]): HTMLDListElement {
  const dl = el('dl', { className: 'meta' });
  for (const [k, v] of pairs) if (shown(v)) dl.append(el('div', {}, el('dt', {}, k), el('dd', {}, shown(v))));
  return dl;
}

/** Upstream's time signature is the beats per bar ("4"); 6 is 6/8. */
function meter(v: unknown): string {
  const t = shown(v);
  if (!t || t.includes('/')) return t;
  return t === '6' ? '6/8' : `${t}/4`;
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '0:00';
  return `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
}

export interface SongActions {
  useAsSource(s: Song): void;
  useAsReference(s: Song): void;
  understand(s: Song): void;
  remove(s: Song): void;
  useUnderstanding(s: Song): void;
}

const views = new Map<string, WaveView>();

/** Builds a song card; the audio is fetched (with the key) and drawn when the card is attached. */
export function songCard(s: Song, act: SongActions): HTMLLIElement {
  const titleId = `song-${s.id.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
  const title = songTitle(s);
  const media = el('audio', { preload: 'metadata' });
  const wave = el('div', { className: 'wave', role: 'img', ariaLabel: `Waveform of ${title}` });
  const play = el('button', { type: 'button', className: 'play', disabled: true, ariaLabel: `Play ${title}` }, 'Play');
  const time = el('span', { className: 'time', ariaHidden: 'true' }, '0:00');
  const download = el('a', { className: 'button', ariaLabel: `Download ${title}` }, 'Download');
  download.setAttribute('aria-disabled', 'true');
  const status = el('p', { className: 'note', role: 'status' });
  const understood = el('div', { className: 'understanding', ariaLive: 'polite' });
  const btn = (label: string, aria: string, fn: () => void) => {
    const b = el('button', { type: 'button', className: 'small', ariaLabel: `${aria} ${title}` }, label);
    b.addEventListener('click', fn);
    return b;
  };
  const card = el(
    'li',
    { className: 'song', ariaLabelledby: titleId, 'data-song': s.id },
    el('h3', { id: titleId }, title),
    wave,
    el('div', { className: 'row' }, play, time, download),
    status,
    metaList([
      ['Seed', s.seed],
      ['BPM', s.bpm],
      ['Key', s.keyscale],
      ['Time', meter(s.timesignature)],
      ['Duration', s.duration !== undefined && shown(s.duration) ? `${Number(s.duration).toFixed(1)} s` : ''],
      ['Model', s.dit_model],
      ['Mode', s.mode],
    ]),
    el(
      'details',
      {},
      el('summary', {}, 'Caption and lyrics'),
      el('p', { className: 'caption' }, s.caption || '(no caption)'),
      el('pre', { className: 'lyrics' }, s.lyrics || '(no lyrics)'),
    ),
    el(
      'div',
      { className: 'row wrap' },
      btn('Use as source', 'Use as source:', () => act.useAsSource(s)),
      btn('Use as reference', 'Use as style reference:', () => act.useAsReference(s)),
      btn('Understand', 'Describe', () => act.understand(s)),
      btn('Remove', 'Remove from the list:', () => act.remove(s)),
    ),
    understood,
  );
  renderUnderstanding(understood, s, act);

  play.addEventListener('click', () => {
    const v = views.get(s.id);
    if (v) void v.ws.playPause();
    else if (media.paused) void media.play();
    else media.pause();
  });
  media.addEventListener('play', () => {
    play.textContent = 'Pause';
    play.setAttribute('aria-label', `Pause ${title}`);
  });
  media.addEventListener('pause', () => {
    play.textContent = 'Play';
    play.setAttribute('aria-label', `Play ${title}`);
  });
  media.addEventListener('timeupdate', () => {
    time.textContent = fmtTime(media.currentTime);
  });

  void (async () => {
    try {
      const { blob, url } = await audioBlob(s.file);
      const ext = (/\.(\w+)(?:$|&)/.exec(decodeURIComponent(s.file))?.[1] ?? 'audio').toLowerCase();
      download.href = url;
      download.download = `acestep-${s.seed || s.task_id.slice(0, 8)}.${ext}`;
      download.removeAttribute('aria-disabled');
      media.src = url;
      media.addEventListener(
        'error',
        () => {
          play.disabled = true;
          status.textContent = 'This browser cannot play the file; download it instead.';
        },
        { once: true },
      );
      play.disabled = false;
      const peaks = await computePeaks(blob);
      views.get(s.id)?.destroy();
      views.set(s.id, drawWave(wave, media, peaks));
      wave.classList.add('drawn');
    } catch (e) {
      status.textContent = `Audio unavailable: ${(e as Error).message}`;
    }
  })();
  return card;
}

export function renderUnderstanding(box: HTMLElement, s: Song, act: SongActions): void {
  box.replaceChildren();
  const u = s.understanding;
  if (!u) return;
  if (u.error) {
    box.append(el('p', { className: 'error' }, `Understand failed: ${u.error}`));
    return;
  }
  const use = el('button', { type: 'button' }, 'Use in the form');
  use.addEventListener('click', () => act.useUnderstanding(s));
  box.append(
    el('h4', {}, 'What the model hears'),
    metaList([
      ['Caption', u.caption],
      ['BPM', u.bpm],
      ['Key', u.keyscale],
      ['Time', meter(u.timesignature)],
      ['Duration', u.duration],
      ['Language', u.language],
    ]),
    el('pre', { className: 'lyrics' }, u.lyrics || '(no lyrics)'),
    use,
  );
}

export function dropView(id: string): void {
  views.get(id)?.destroy();
  views.delete(id);
}
