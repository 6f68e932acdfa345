// The page: five modes over one form (Simple, Custom, Cover / Remix, Repaint, Lego / Extract /
// Complete), the job list with live progress and cancel, the song history, and the setup panel
// (API key, models, LoRA). Everything goes through the REST API in api.ts.
import { ApiError, apiKey, audioBlob, call, setApiKey } from './api.js';
import { cancel, forgetJob, JobFollower, loadJobs, rememberJob, submit, type JobRecord, type JobState } from './jobs.js';
import {
  dropView,
  el,
  loadSongs,
  renderUnderstanding,
  saveSongs,
  songCard,
  songsFromItems,
  songTitle,
  type Song,
  type SongActions,
} from './songs.js';
import { computePeaks, drawWave, rangeSelector, type WaveView } from './wave.js';
import './style.css';

const TRACKS = [
  'vocals',
  'backing_vocals',
  'drums',
  'bass',
  'guitar',
  'keyboard',
  'percussion',
  'strings',
  'synth',
  'fx',
  'brass',
  'woodwinds',
];
const LANGUAGES: [string, string][] = [
  ['en', 'English'],
  ['zh', 'Chinese'],
  ['ja', 'Japanese'],
  ['ko', 'Korean'],
  ['es', 'Spanish'],
  ['fr', 'French'],
  ['de', 'German'],
  ['it', 'Italian'],
  ['pt', 'Portuguese'],
  ['ru', 'Russian'],
  ['ar', 'Arabic'],
  ['hi', 'Hindi'],
  ['yue', 'Cantonese'],
  ['unknown', 'Other / unknown'],
];
const KEYS = ['C', 'C#', 'D', 'Eb', 'E', 'F', 'F#', 'G', 'Ab', 'A', 'Bb', 'B'].flatMap((n) => [`${n} major`, `${n} minor`]);

const MODES = ['simple', 'custom', 'cover', 'repaint', 'tracks'] as const;
type Mode = (typeof MODES)[number];
const MODE_HELP: Record<Mode, string> = {
  simple:
    'Describe a song in a line. "Write the song" lets the language model draft the caption and lyrics for you to edit; Generate also works straight from the idea.',
  custom: 'Write the caption and lyrics yourself and set every parameter.',
  cover: 'Remake a song: its structure guides a new one in the style of your caption.',
  repaint: 'Regenerate part of a song: choose the time range on its waveform.',
  tracks: 'Work on separate instrument tracks of a song.',
};

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>('composer');
const input = (id: string) => $<HTMLInputElement>(id);

let mode: Mode = 'simple';

interface Inventory {
  models?: { name: string; is_default?: boolean; is_loaded?: boolean; supported_task_types?: string[] }[];
  lm_models?: { name: string; is_loaded?: boolean }[];
  loaded_lm_model?: string | null;
}
let inventory: Inventory = {};

// ---------- small form helpers ----------

function fillSelect(sel: HTMLSelectElement, options: [string, string][], value?: string): void {
  sel.replaceChildren(...options.map(([v, label]) => el('option', { value: v }, label)));
  if (value !== undefined) sel.value = value;
}

function say(id: string, text: string, isError = false): void {
  const p = $(id);
  p.textContent = text;
  p.classList.toggle('error', isError);
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

for (const range of form.querySelectorAll<HTMLInputElement>('input[type=range]')) {
  const out = form.querySelector<HTMLOutputElement>(`output[for="${range.id}"]`);
  const show = () => {
    if (out) out.value = Number(range.value).toFixed(2);
  };
  range.addEventListener('input', show);
  show();
}

// ---------- modes ----------

const tabs = [...document.querySelectorAll<HTMLButtonElement>('[role=tab]')];

function setMode(m: Mode, focus = false): void {
  mode = m;
  for (const t of tabs) {
    const on = t.dataset.mode === m;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    if (on) {
      form.setAttribute('aria-labelledby', t.id);
      if (focus) t.focus();
    }
  }
  for (const node of form.querySelectorAll<HTMLElement>('[data-modes]')) node.hidden = !node.dataset.modes!.split(' ').includes(m);
  $<HTMLDetailsElement>('more').open = m === 'custom' || $<HTMLDetailsElement>('more').open;
  $('mode-help').textContent = MODE_HELP[m];
  $('generate').textContent = m === 'tracks' ? 'Run' : 'Generate';
  localStorage.setItem('acestep.mode', m);
  if (location.hash !== `#${m}`) history.replaceState(null, '', `#${m}`);
  void drawSource();
}

for (const t of tabs) {
  t.addEventListener('click', () => setMode(t.dataset.mode as Mode));
  t.addEventListener('keydown', (e) => {
    const i = tabs.indexOf(t);
    const next =
      e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? tabs.length - 1 : null;
    if (next === null) return;
    e.preventDefault();
    setMode(tabs[(next + tabs.length) % tabs.length].dataset.mode as Mode, true);
  });
}

// ---------- source and reference audio ----------

interface Audio {
  blob: Blob;
  name: string;
}
let source: Audio | null = null;
let reference: Audio | null = null;
let sourceView: WaveView | null = null;
let sourcePeaks: { key: Audio; peaks: Awaited<ReturnType<typeof computePeaks>> } | null = null;
let setRange: ((start: number, end: number) => void) | null = null;

async function drawSource(): Promise<void> {
  const box = $('src-wave');
  sourceView?.destroy();
  sourceView = null;
  setRange = null;
  box.replaceChildren();
  if (!source || !['cover', 'repaint', 'tracks'].includes(mode)) return;
  const current = source;
  try {
    if (sourcePeaks?.key !== current) sourcePeaks = { key: current, peaks: await computePeaks(current.blob) };
  } catch (e) {
    box.textContent = `No waveform: ${errText(e)}`;
    return;
  }
  if (source !== current) return;
  const media = new window.Audio(URL.createObjectURL(current.blob));
  const { peaks } = sourcePeaks;
  const view = drawWave(box, media, peaks, mode === 'repaint');
  sourceView = view;
  // Regions need the waveform's duration, known once wavesurfer has taken the peaks.
  await view.ready;
  if (sourceView !== view) return;
  box.classList.add('drawn');
  if (mode === 'repaint') {
    const startIn = input('repainting_start'),
      endIn = input('repainting_end');
    setRange = rangeSelector(view, peaks.duration, (s, e) => {
      startIn.value = s.toFixed(1);
      endIn.value = e.toFixed(1);
    });
    startIn.max = endIn.max = peaks.duration.toFixed(1);
    const s0 = Number(startIn.value) || 0;
    const e0 = Number(endIn.value) || 0;
    if (e0 > s0 && e0 <= peaks.duration + 0.05) setRange(s0, e0);
    else setRange(peaks.duration * 0.25, peaks.duration * 0.5);
  }
}

for (const id of ['repainting_start', 'repainting_end']) {
  input(id).addEventListener('change', () => {
    const s = Number(input('repainting_start').value),
      e = Number(input('repainting_end').value);
    if (setRange && Number.isFinite(s) && Number.isFinite(e) && e > s) setRange(s, e);
  });
}

function setSource(a: Audio | null): void {
  source = a;
  $('src-name').textContent = a ? `Source: ${a.name}` : '';
  void drawSource();
}

input('src-file').addEventListener('change', () => {
  const f = input('src-file').files?.[0];
  $<HTMLSelectElement>('src-pick').value = '';
  setSource(f ? { blob: f, name: f.name } : null);
});
input('ref-file').addEventListener('change', () => {
  const f = input('ref-file').files?.[0];
  $<HTMLSelectElement>('ref-pick').value = '';
  reference = f ? { blob: f, name: f.name } : null;
});

async function songAudio(s: Song): Promise<Audio> {
  const { blob } = await audioBlob(s.file);
  return { blob, name: songTitle(s) };
}

$<HTMLSelectElement>('src-pick').addEventListener('change', async (e) => {
  const id = (e.target as HTMLSelectElement).value;
  const s = songs.find((x) => x.id === id);
  input('src-file').value = '';
  if (!s) return setSource(null);
  try {
    setSource(await songAudio(s));
  } catch (err) {
    $('src-name').textContent = `Cannot use that song: ${errText(err)}`;
  }
});
$<HTMLSelectElement>('ref-pick').addEventListener('change', async (e) => {
  const id = (e.target as HTMLSelectElement).value;
  const s = songs.find((x) => x.id === id);
  input('ref-file').value = '';
  reference = s ? await songAudio(s).catch(() => null) : null;
});

// ---------- the request ----------

const track = $<HTMLSelectElement>('track-task');
function showTrackPicker(): void {
  $('track-one').hidden = track.value === 'complete';
  $('track-many').hidden = track.value !== 'complete';
  // Upstream trains lego / extract / complete into the base models only: say so, do not refuse.
  const model = inventory.models?.find((m) => m.name === $<HTMLSelectElement>('dit-model').value);
  const base = inventory.models?.find((m) => m.supported_task_types?.includes(track.value));
  $('track-model-hint').textContent =
    model?.supported_task_types && !model.supported_task_types.includes(track.value)
      ? `${model.name} is not trained for ${track.value}${base ? `; ${base.name} is (load it under "Server, models and LoRA")` : ''}.`
      : '';
}
track.addEventListener('change', showTrackPicker);
$('dit-model').addEventListener('change', showTrackPicker);

/** The form as upstream's /release_task fields; a FormData with the uploads when there is audio to send. */
function buildRequest(): FormData | Record<string, unknown> {
  const f: Record<string, unknown> = {};
  const val = (id: string) => input(id).value.trim();
  const numField = (id: string) => {
    const v = val(id);
    if (v !== '') f[id] = Number(v);
  };
  const task = mode === 'tracks' ? track.value : mode === 'cover' || mode === 'repaint' ? mode : 'text2music';
  f.task_type = task;
  f.prompt = $<HTMLTextAreaElement>('prompt').value.trim();
  f.lyrics = input('instrumental').checked ? '[instrumental]' : $<HTMLTextAreaElement>('lyrics').value;
  if (mode === 'simple' && !f.prompt) {
    const idea = $<HTMLTextAreaElement>('idea').value.trim();
    if (!idea) throw new Error('Describe the song first, or write a caption.');
    f.sample_mode = true;
    f.sample_query = idea;
    if (input('idea-instrumental').checked) f.lyrics = '[instrumental]';
  }
  for (const id of ['bpm', 'audio_duration', 'batch_size', 'inference_steps', 'shift', 'guidance_scale']) numField(id);
  for (const id of ['key_scale', 'time_signature', 'vocal_language', 'infer_method', 'audio_format']) {
    const v = (($(id) as HTMLInputElement | HTMLSelectElement).value ?? '').trim();
    if (v) f[id] = v;
  }
  for (const id of ['thinking', 'use_cot_caption', 'use_cot_language', 'use_format']) f[id] = input(id).checked;
  const seeds = val('seed');
  if (seeds) {
    if (!/^-?\d+(\s*,\s*-?\d+)*$/.test(seeds)) throw new Error('Seeds are whole numbers separated by commas.');
    f.seed = seeds.replace(/\s+/g, '');
    f.use_random_seed = false;
  }
  const model = $<HTMLSelectElement>('dit-model').value;
  if (model) f.model = model;
  const files: [string, Audio][] = [];
  if (task !== 'text2music') {
    if (!source) throw new Error('Choose a source song: upload one or pick one of yours.');
    files.push(['src_audio', source]);
  }
  if (task === 'cover') {
    f.audio_cover_strength = Number(input('audio_cover_strength').value);
    f.cover_noise_strength = Number(input('cover_noise_strength').value);
    if (reference) files.push(['ref_audio', reference]);
  }
  if (task === 'repaint') {
    const s = Number(val('repainting_start') || 0),
      e = val('repainting_end');
    if (e !== '' && Number(e) <= s) throw new Error('The repaint range must end after it starts.');
    f.repainting_start = s;
    f.repainting_end = e === '' ? -1 : Number(e);
    f.repaint_mode = $<HTMLSelectElement>('repaint_mode').value;
    f.repaint_strength = Number(input('repaint_strength').value);
  }
  if (task === 'lego' || task === 'extract') f.track_name = $<HTMLSelectElement>('track_name').value;
  if (task === 'complete') {
    const picked = [...document.querySelectorAll<HTMLInputElement>('#track-classes input:checked')].map((c) => c.value);
    if (!picked.length) throw new Error('Tick at least one track to complete.');
    f.track_classes = picked.join(',');
  }
  if (!files.length) return f;
  const fd = new FormData();
  for (const [k, v] of Object.entries(f)) fd.append(k, String(v));
  for (const [k, a] of files) fd.append(k, a.blob, a.name.replace(/[^\w.-]+/g, '_') || 'audio');
  return fd;
}

/** The job the line beside Generate talks about; it is cleared when that job ends. */
let lastSubmitted = '';

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const button = $<HTMLButtonElement>('generate');
  let body: FormData | Record<string, unknown>;
  try {
    body = buildRequest();
  } catch (err) {
    return say('submit-status', errText(err), true);
  }
  button.disabled = true;
  say('submit-status', 'Sending…');
  try {
    const { task_id, queue_position } = await submit(body);
    const caption = $<HTMLTextAreaElement>('prompt').value.trim() || $<HTMLTextAreaElement>('idea').value.trim();
    const job: JobRecord = {
      task_id,
      kind: 'generate',
      mode,
      label: `${tabs.find((t) => t.dataset.mode === mode)!.textContent}: ${caption.slice(0, 50) || 'song'}`,
      created: Date.now(),
      queue_position,
    };
    rememberJob(job);
    follow(job);
    say('submit-status', `Queued${queue_position ? ` at position ${queue_position}` : ''}.`);
    lastSubmitted = task_id;
    void refreshHealth();
  } catch (err) {
    say('submit-status', errText(err), true);
  } finally {
    button.disabled = false;
  }
});

form.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    form.requestSubmit();
  }
});

// ---------- Simple mode: the LM writes the song ----------

$('write-song').addEventListener('click', async () => {
  const query = $<HTMLTextAreaElement>('idea').value.trim();
  if (!query) return say('write-status', 'Describe the song first.', true);
  const b = $<HTMLButtonElement>('write-song');
  b.disabled = true;
  say('write-status', 'The language model is writing…');
  try {
    const instrumental = input('idea-instrumental').checked;
    const r = await call<Record<string, unknown>>('/v1/create_sample', {
      query,
      instrumental,
      vocal_language: $<HTMLSelectElement>('vocal_language').value || 'unknown',
    });
    $<HTMLTextAreaElement>('prompt').value = String(r.caption ?? '');
    $<HTMLTextAreaElement>('lyrics').value = String(r.lyrics ?? '');
    input('instrumental').checked = instrumental || /^\s*\[inst(rumental)?\]\s*$/i.test(String(r.lyrics ?? ''));
    applyMetas(r);
    say('write-status', 'Done: edit the caption and lyrics below, then Generate.');
    $('prompt').focus();
  } catch (err) {
    say('write-status', errText(err), true);
  } finally {
    b.disabled = false;
  }
});

/** Copies bpm / key / time signature / duration / language from an LM answer into the form. */
function applyMetas(r: Record<string, unknown>): void {
  const set = (id: string, v: unknown) => {
    if (v === undefined || v === null || v === '' || v === 'N/A') return;
    ($(id) as HTMLInputElement).value = String(v);
  };
  set('bpm', r.bpm);
  set('key_scale', r.keyscale ?? r.key_scale);
  set('time_signature', String(r.timesignature ?? r.time_signature ?? '').replace(/\/.*$/, '') || undefined);
  set('audio_duration', r.duration);
  const lang = r.vocal_language ?? r.language;
  if (typeof lang === 'string' && [...$<HTMLSelectElement>('vocal_language').options].some((o) => o.value === lang))
    set('vocal_language', lang);
}

// ---------- jobs ----------

const followers = new Map<string, JobFollower>();

/** The server's stage names (job-executor) in words; the step line (`Diffusion step 3/8`) follows. */
const STAGE_WORDS: Record<string, string> = {
  queued: 'Waiting',
  encoding: 'Reading the source',
  lm: 'Language model',
  diffusion: 'Generating',
  decoding: 'Decoding audio',
  saving: 'Saving',
};

function stageLine(s: JobState): string {
  if (s.status === 'queued') return s.queuePosition ? `Waiting in the queue: position ${s.queuePosition}` : 'Waiting in the queue';
  if (s.status === 'failed') return s.error === 'cancelled' ? 'Cancelled' : `Failed: ${s.error ?? 'unknown error'}`;
  if (s.status === 'succeeded') return 'Done';
  return [STAGE_WORDS[s.stage] ?? s.stage, s.text && s.text !== s.stage ? s.text : ''].filter(Boolean).join(' · ') || 'Running';
}

function follow(job: JobRecord): void {
  if (followers.has(job.task_id)) return;
  const bar = el('progress', { max: 1, value: 0, ariaLabel: `Progress of ${job.label}` });
  const line = el('p', { className: 'stage' });
  const pct = el('span', { className: 'pct' }, '0%');
  const stop = el('button', { type: 'button', className: 'quiet', ariaLabel: `Cancel ${job.label}` }, 'Cancel');
  const li = el(
    'li',
    { className: 'job', 'data-task': job.task_id },
    el('div', { className: 'row spread' }, el('strong', {}, job.label), stop),
    el('div', { className: 'row' }, bar, pct),
    line,
  );
  // Screen readers hear the stage changes, not every percent.
  line.setAttribute('aria-live', 'polite');
  $('jobs').prepend(li);
  $('jobs-empty').hidden = true;
  // On a phone the job list is below the form: bring the new job into view.
  if (!matchMedia('(min-width: 960px)').matches && document.readyState === 'complete') li.scrollIntoView({ block: 'nearest' });
  let lastLine = '';
  stop.addEventListener('click', async () => {
    stop.disabled = true;
    try {
      await cancel(job.task_id);
      // The event stream can report the job's end before this answer arrives: an ended job keeps
      // its end line ("Cancelled"), not a "Cancelling…" that no later update would replace.
      if (followers.has(job.task_id)) line.textContent = lastLine = 'Cancelling…';
    } catch (err) {
      if (followers.has(job.task_id)) {
        line.textContent = lastLine = `Cannot cancel: ${errText(err)}`;
        stop.disabled = false;
      }
    }
  });
  const f = new JobFollower(job, (s) => {
    bar.value = s.progress;
    pct.textContent = `${Math.round(s.progress * 100)}%`;
    const text = stageLine(s);
    if (text !== lastLine) line.textContent = lastLine = text;
    li.dataset.status = s.status;
    if (s.status === 'succeeded' || s.status === 'failed') {
      followers.delete(job.task_id);
      forgetJob(job.task_id);
      stop.remove();
      onJobEnd(job, s);
      setTimeout(
        () => {
          li.remove();
          $('jobs-empty').hidden = followers.size > 0;
        },
        s.status === 'succeeded' ? 4000 : 15000,
      );
    }
  });
  followers.set(job.task_id, f);
  f.start();
}

function onJobEnd(job: JobRecord, s: JobState): void {
  void refreshHealth();
  if (job.task_id === lastSubmitted) say('submit-status', '');
  if (job.kind === 'understand') {
    const song = songs.find((x) => x.id === job.song_id);
    if (!song) return;
    const it = (s.items?.[0] ?? {}) as Record<string, unknown>;
    const m = (it.metas ?? {}) as Record<string, unknown>;
    // Upstream's analysis answer carries its fields flat; accept them under `metas` too.
    const pick = (...keys: string[]) => keys.map((k) => it[k] ?? m[k]).find((v) => v !== undefined && v !== null && v !== '');
    if (s.status === 'failed') song.understanding = { error: s.error ?? 'failed' };
    else if (it.file) song.understanding = { error: 'this server does not analyse audio (it ignored full_analysis_only and made a song)' };
    else {
      song.understanding = {
        caption: String(pick('prompt', 'caption') ?? ''),
        lyrics: String(pick('lyrics') ?? ''),
        bpm: pick('bpm'),
        keyscale: pick('keyscale', 'key_scale'),
        timesignature: pick('timesignature', 'time_signature'),
        duration: pick('duration'),
        language: pick('language', 'vocal_language'),
      };
    }
    saveSongs(songs);
    const box = document.querySelector<HTMLElement>(`[data-song="${CSS.escape(song.id)}"] .understanding`);
    if (box) renderUnderstanding(box, song, actions);
    return;
  }
  if (s.status !== 'succeeded' || !s.items?.length) return;
  const made = songsFromItems(job.task_id, job.mode, s.items);
  songs = [...made, ...songs.filter((x) => !made.some((m) => m.id === x.id))];
  saveSongs(songs);
  renderSongs();
}

// ---------- songs ----------

let songs: Song[] = loadSongs();

const actions: SongActions = {
  useAsSource: async (s) => {
    if (!['cover', 'repaint', 'tracks'].includes(mode)) setMode('repaint');
    $<HTMLSelectElement>('src-pick').value = s.id;
    input('src-file').value = '';
    try {
      setSource(await songAudio(s));
      $('source-set').scrollIntoView({ block: 'nearest' });
      $('src-pick').focus();
    } catch (err) {
      $('src-name').textContent = `Cannot use that song: ${errText(err)}`;
    }
  },
  useAsReference: async (s) => {
    setMode('cover');
    $<HTMLSelectElement>('ref-pick').value = s.id;
    input('ref-file').value = '';
    reference = await songAudio(s).catch(() => null);
    $('ref-pick').focus();
  },
  understand: async (s) => {
    try {
      const { blob } = await audioBlob(s.file);
      const fd = new FormData();
      fd.append('full_analysis_only', 'true');
      fd.append('batch_size', '1');
      fd.append('src_audio', blob, 'song');
      const { task_id, queue_position } = await submit(fd);
      const job: JobRecord = {
        task_id,
        kind: 'understand',
        mode: 'understand',
        label: `Understand: ${songTitle(s)}`,
        created: Date.now(),
        queue_position,
        song_id: s.id,
      };
      rememberJob(job);
      follow(job);
    } catch (err) {
      s.understanding = { error: errText(err) };
      const box = document.querySelector<HTMLElement>(`[data-song="${CSS.escape(s.id)}"] .understanding`);
      if (box) renderUnderstanding(box, s, actions);
    }
  },
  remove: (s) => {
    songs = songs.filter((x) => x.id !== s.id);
    saveSongs(songs);
    dropView(s.id);
    renderSongs();
    $('songs-h').focus();
  },
  useUnderstanding: (s) => {
    const u = s.understanding;
    if (!u) return;
    setMode('custom');
    $<HTMLTextAreaElement>('prompt').value = u.caption ?? '';
    $<HTMLTextAreaElement>('lyrics').value = u.lyrics ?? '';
    applyMetas(u as Record<string, unknown>);
    $('prompt').focus();
  },
};

function renderSongs(): void {
  const list = $('songs');
  const have = new Set([...list.children].map((c) => (c as HTMLElement).dataset.song));
  const want = new Set(songs.map((s) => s.id));
  for (const c of [...list.children]) if (!want.has((c as HTMLElement).dataset.song ?? '')) c.remove();
  // New songs go on top; cards that exist keep their player and waveform.
  for (const s of [...songs].reverse()) if (!have.has(s.id)) list.prepend(songCard(s, actions));
  $('songs-empty').hidden = songs.length > 0;
  for (const id of ['src-pick', 'ref-pick']) {
    const sel = $<HTMLSelectElement>(id);
    const keep = sel.value;
    fillSelect(sel, [['', '(none)'], ...songs.map((s): [string, string] => [s.id, songTitle(s)])], keep);
    if (sel.value !== keep) sel.value = '';
  }
}

$('clear-history').addEventListener('click', () => {
  if (!songs.length || !confirm('Remove every song from this list? The files stay on the server until it cleans them up.')) return;
  for (const s of songs) dropView(s.id);
  songs = [];
  saveSongs(songs);
  renderSongs();
});

// ---------- setup: key, health, models, LoRA ----------

async function refreshHealth(): Promise<void> {
  try {
    const h = await call<Record<string, unknown>>('/health');
    const parts = ['Connected'];
    if (h.loaded_model) parts.push(`model ${h.loaded_model}`);
    if (h.loaded_lm_model) parts.push(`LM ${h.loaded_lm_model}`);
    try {
      const st = await call<{ queue_size?: number; jobs?: { running?: number } }>('/v1/stats');
      if (st && typeof st.queue_size === 'number') parts.push(`${st.queue_size} queued`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) parts.push('API key needed');
    }
    say('health', parts.join(' · '));
  } catch (e) {
    say('health', `Server unreachable: ${errText(e)}`, true);
  }
}

async function refreshModels(): Promise<void> {
  try {
    const inv = (inventory = await call<Inventory>('/v1/model_inventory'));
    const dit = inv.models ?? [];
    fillSelect(
      $<HTMLSelectElement>('dit-model'),
      dit.map((m): [string, string] => [m.name, `${m.name}${m.is_loaded ? ' (loaded)' : ''}`]),
      (dit.find((m) => m.is_loaded) ?? dit.find((m) => m.is_default))?.name,
    );
    const lm = inv.lm_models ?? [];
    fillSelect(
      $<HTMLSelectElement>('lm-model'),
      [['', '(none)'], ...lm.map((m): [string, string] => [m.name, `${m.name}${m.is_loaded ? ' (loaded)' : ''}`])],
      lm.find((m) => m.is_loaded)?.name ?? '',
    );
    if ($('model-status').classList.contains('error')) say('model-status', ''); // an old failure, e.g. before the key was set
  } catch (e) {
    say('model-status', `Cannot list models: ${errText(e)}`, true);
  }
  showTrackPicker();
}

$('model-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const lm = $<HTMLSelectElement>('lm-model').value;
  say('model-status', 'Loading…');
  try {
    const r = await call<{ message?: string }>('/v1/init', {
      model: $<HTMLSelectElement>('dit-model').value,
      init_llm: Boolean(lm),
      ...(lm ? { lm_model_path: lm } : {}),
    });
    say('model-status', r?.message ?? 'Loaded.');
    await refreshModels();
    void refreshHealth();
  } catch (err) {
    say('model-status', errText(err), true);
  }
});

/**
 * The scale slider moved and was not committed yet: a status refresh landing meanwhile (after a
 * toggle, say) must not put the server's old scale back under the user's hand.
 */
let scaleEdited = false;

async function refreshLora(): Promise<void> {
  try {
    const s = await call<{ lora_loaded?: boolean; use_lora?: boolean; lora_scale?: number; active_adapter?: string | null }>(
      '/v1/lora/status',
    );
    input('lora-use').checked = Boolean(s.use_lora);
    if (typeof s.lora_scale === 'number' && !scaleEdited) {
      input('lora-scale').value = String(s.lora_scale);
      $<HTMLOutputElement>('lora-scale-out').value = s.lora_scale.toFixed(2);
    }
    say(
      'lora-status',
      s.lora_loaded ? `Loaded${s.active_adapter ? `: ${s.active_adapter}` : ''}${s.use_lora ? '' : ' (off)'}` : 'No adapter loaded.',
    );
  } catch (e) {
    say('lora-status', `LoRA status unavailable: ${errText(e)}`, true);
  }
}

let loraChain: Promise<void> = Promise.resolve();

/** One LoRA call and the status after it; calls run in order so a late status never undoes a newer change. */
function loraCall(path: string, body: Record<string, unknown>): Promise<void> {
  loraChain = loraChain.then(async () => {
    try {
      const r = await call<{ message?: string }>(path, body);
      await refreshLora();
      if (r?.message) say('lora-status', r.message);
    } catch (e) {
      say('lora-status', errText(e), true);
    }
  });
  return loraChain;
}

$('lora-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const path = input('lora-path').value.trim();
  if (!path) return say('lora-status', 'Enter the adapter path on the server.', true);
  void loraCall('/v1/lora/load', { lora_path: path });
});
$('lora-unload').addEventListener('click', () => void loraCall('/v1/lora/unload', {}));
input('lora-use').addEventListener('change', () => void loraCall('/v1/lora/toggle', { use_lora: input('lora-use').checked }));
input('lora-scale').addEventListener('input', () => {
  scaleEdited = true;
  $<HTMLOutputElement>('lora-scale-out').value = Number(input('lora-scale').value).toFixed(2);
});
input('lora-scale').addEventListener('change', () => {
  scaleEdited = false;
  void loraCall('/v1/lora/scale', { scale: Number(input('lora-scale').value) });
});

input('api-key').value = apiKey();
$('key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  setApiKey(input('api-key').value.trim());
  say('key-status', apiKey() ? 'Key saved in this browser.' : 'Key removed.');
  say('submit-status', '');
  void refreshAll();
  // Jobs that stalled on 401 and songs whose audio failed retry with the new key.
  for (const j of loadJobs()) follow(j);
  $('songs').replaceChildren();
  renderSongs();
});

async function refreshAll(): Promise<void> {
  await refreshHealth();
  await Promise.all([refreshModels(), refreshLora()]);
}

// ---------- start ----------

fillSelect($<HTMLSelectElement>('vocal_language'), LANGUAGES, 'en');
$('keys').replaceChildren(...KEYS.map((k) => el('option', { value: k })));
fillSelect(
  $<HTMLSelectElement>('track_name'),
  TRACKS.map((t): [string, string] => [t, t.replace('_', ' ')]),
  'vocals',
);
$('track-classes').replaceChildren(
  ...TRACKS.map((t) =>
    el('label', { className: 'check' }, el('input', { type: 'checkbox', value: t, name: 'track_classes' }), ` ${t.replace('_', ' ')}`),
  ),
);
showTrackPicker();
const isMode = (m: unknown): m is Mode => MODES.includes(m as Mode);
const stored = localStorage.getItem('acestep.mode');
setMode(isMode(location.hash.slice(1)) ? (location.hash.slice(1) as Mode) : isMode(stored) ? stored : 'simple');
renderSongs();
for (const j of loadJobs()) follow(j);
$('jobs-empty').hidden = followers.size > 0;
void refreshAll();
setInterval(() => void refreshHealth(), 15000);
