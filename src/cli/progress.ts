// Progress of a command on stderr, one stage at a time: model loading, LM tokens, DiT steps, VAE
// tiles, saving, downloads. On a terminal each stage is a cli-progress bar redrawn in place (a new
// stage finishes the previous bar's line, so no remnants stay behind); otherwise plain lines at
// the start, at quarter marks and at the end of each stage, for logs.
import cliProgress from 'cli-progress';
import type { DownloadProgress, LoadEvent, ProgressEvent } from '../index.js';

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
}

const MODEL_LABEL: Record<LoadEvent['model'], string> = { dit: 'DiT', 'text-encoder': 'text encoder', vae: 'VAE', lm: '5 Hz LM' };

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) ((n /= 1000), i++);
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

interface Stage {
  key: string;
  label: string;
  unit: string;
  total: number | null;
  value: number;
  /** Plain mode: the last quarter (0-4) and value printed. */
  quarter: number;
  printed: number;
  bar: cliProgress.SingleBar | null;
  started: number;
}

export class CliProgress {
  private stage: Stage | null = null;
  private loadStarted = 0;
  /** A terminal 'loading ...' line waits for its end. */
  private loadPending = false;
  private readonly tty: boolean;

  constructor(
    private readonly stream: ProgressStream,
    private readonly quiet = false,
  ) {
    this.tty = stream.isTTY === true;
  }

  /** A finished line (ends the current bar first). */
  line(text: string): void {
    if (this.quiet) return;
    this.endStage();
    this.stream.write(`${text}\n`);
  }

  load(e: LoadEvent): void {
    if (this.quiet) return;
    const name = e.dir.split(/[\\/]/).filter(Boolean).at(-1) ?? e.dir;
    if (!e.done) {
      this.endStage();
      this.loadStarted = performance.now();
      this.stream.write(`loading ${MODEL_LABEL[e.model]} (${name})${this.tty ? ' ...' : '\n'}`);
      this.loadPending = this.tty;
      return;
    }
    this.loadPending = false;
    const took = ((performance.now() - this.loadStarted) / 1000).toFixed(1);
    this.stream.write(`${this.tty ? '\r\x1b[2K' : ''}loaded ${MODEL_LABEL[e.model]} (${name}) in ${took} s\n`);
  }

  /** One pipeline event of generateMusic; `codesTotal` = LM code tokens expected per item, when known. */
  generation(e: ProgressEvent, codesTotal: number | null = null): void {
    switch (e.stage) {
      case 'encode':
        return this.line(`encoding the ${e.what} audio`);
      case 'lm':
        return this.lmTokens(
          `LM ${e.phase === 1 ? 'plan (metadata, caption)' : 'audio codes'} item ${e.item + 1}`,
          `lm${e.phase}.${e.item}`,
          e.step,
          e.phase === 2 ? codesTotal : null,
        );
      case 'dit':
        return this.update('dit', 'diffusion', 'steps', e.step, e.total);
      case 'vae':
        return this.update('vae', 'VAE decode', 'tiles', e.tile, e.total);
      case 'save':
        return this.update('save', 'saving', 'files', e.item, e.total);
    }
  }

  /** LM tokens of one phase; total null = open-ended (stops at the end of the text). */
  lmTokens(label: string, key: string, step: number, total: number | null): void {
    this.update(key, label, 'tokens', step, total === null ? null : Math.max(total, step));
  }

  download(e: DownloadProgress): void {
    if (e.kind === 'done') {
      this.update(`dl.${e.model}`, e.model, 'bytes', e.totalBytes, e.totalBytes);
      return this.endStage();
    }
    this.update(`dl.${e.model}`, e.model, 'bytes', e.doneBytes, e.totalBytes);
  }

  /** Ends the current stage's line, and a load line a failure interrupted. */
  endStage(): void {
    if (this.loadPending) {
      this.loadPending = false;
      this.stream.write('\n');
    }
    const s = this.stage;
    if (!s) return;
    this.stage = null;
    if (s.bar) s.bar.stop();
    else if (s.printed !== s.value) this.stream.write(`${this.plainText(s)}\n`);
  }

  private update(key: string, label: string, unit: string, value: number, total: number | null): void {
    if (this.quiet) return;
    if (this.stage?.key !== key) {
      this.endStage();
      this.stage = { key, label, unit, total, value, quarter: -1, printed: -1, bar: null, started: performance.now() };
      if (this.tty) this.stage.bar = this.makeBar(this.stage);
    }
    const s = this.stage!;
    s.value = value;
    s.total = total;
    if (s.bar) {
      if (total !== null) s.bar.setTotal(total);
      s.bar.update(value, this.payload(s));
      return;
    }
    // Plain lines: the start, each quarter of a known total, every 100 tokens of an open one.
    const quarter = total ? Math.min(4, Math.floor((4 * value) / total)) : Math.floor(value / 100);
    if (quarter !== s.quarter) {
      s.quarter = quarter;
      s.printed = value;
      this.stream.write(`${this.plainText(s)}\n`);
    }
    if (total !== null && value >= total) this.stage = null;
  }

  private plainText(s: Stage): string {
    if (s.unit === 'bytes') return `${s.label}: ${formatBytes(s.value)} of ${formatBytes(s.total ?? 0)} (${this.payload(s).rate})`;
    return `${s.label}: ${s.value}${s.total !== null ? `/${s.total}` : ''} ${s.unit}`;
  }

  private payload(s: Stage): Record<string, string> {
    const secs = (performance.now() - s.started) / 1000;
    return {
      label: s.label,
      unit: s.unit,
      done: formatBytes(s.value),
      size: formatBytes(s.total ?? 0),
      rate: `${formatBytes(secs > 0 ? s.value / secs : 0)}/s`,
    };
  }

  private makeBar(s: Stage): cliProgress.SingleBar {
    const format =
      s.unit === 'bytes'
        ? '{label} |{bar}| {percentage}% {done}/{size} {rate} ETA {eta_formatted}'
        : s.total === null
          ? '{label}: {value} {unit}'
          : '{label} |{bar}| {value}/{total} {unit} {duration_formatted}';
    const bar = new cliProgress.SingleBar(
      { stream: this.stream as unknown as NodeJS.WritableStream, format, barsize: 30, hideCursor: false, linewrap: false, etaBuffer: 50 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(s.total ?? 1e9, s.value, this.payload(s));
    return bar;
  }
}
