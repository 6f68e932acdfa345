// Jobs: submit, follow and cancel. A job is followed two ways at once: the server-sent event
// stream GET /v1/jobs/:id/events (live progress and stage; read with fetch so the API key header
// can be sent, which EventSource cannot) and POST /query_result (upstream's poll, the authority on
// the end state and the result items). Followed jobs are kept in localStorage so a reload resumes them.
import { ApiError, authHeaders, call, url } from './api.js';
import { readList, writeList } from './store.js';

const JOB_STORE = 'acestep.jobs';

export type JobKind = 'generate' | 'understand';

/** What the page remembers of a submitted job. */
export interface JobRecord {
  task_id: string;
  kind: JobKind;
  mode: string;
  label: string;
  created: number;
  queue_position?: number;
  /** For an understand job: the song it describes. */
  song_id?: string;
}

/** One item of `/query_result`'s `result` (a JSON string upstream). */
export interface ResultItem {
  file: string;
  status: number;
  prompt?: string;
  lyrics?: string;
  metas?: Record<string, unknown>;
  seed_value?: string;
  dit_model?: string;
  lm_model?: string;
  generation_info?: string;
  progress?: number;
  stage?: string;
  error?: string | null;
  [k: string]: unknown;
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface JobState {
  status: JobStatus;
  /** 0..1 */
  progress: number;
  stage: string;
  text: string;
  queuePosition?: number;
  items?: ResultItem[];
  error?: string;
}

export function loadJobs(): JobRecord[] {
  return readList<JobRecord>(JOB_STORE, (j) => typeof (j as JobRecord | null)?.task_id === 'string');
}

function saveJobs(jobs: JobRecord[]): void {
  writeList(JOB_STORE, jobs);
}

export function rememberJob(job: JobRecord): void {
  saveJobs([...loadJobs().filter((j) => j.task_id !== job.task_id), job]);
}

export function forgetJob(taskId: string): void {
  saveJobs(loadJobs().filter((j) => j.task_id !== taskId));
}

export async function submit(body: FormData | Record<string, unknown>): Promise<{ task_id: string; queue_position?: number }> {
  const data = await call<{ task_id?: string; job_id?: string; queue_position?: number }>('/release_task', body);
  const task_id = data?.task_id ?? data?.job_id;
  if (!task_id) throw new ApiError('the server answered without a task id', 500);
  return { task_id, queue_position: data.queue_position };
}

export async function cancel(taskId: string): Promise<void> {
  await call('/v1/cancel', { task_id: taskId });
}

const STATUS_OF_CODE: Record<number, JobStatus> = { 0: 'running', 1: 'succeeded', 2: 'failed' };

function statusOf(v: unknown): JobStatus | undefined {
  if (typeof v === 'number') return STATUS_OF_CODE[v];
  if (typeof v === 'string') {
    const s = v.toLowerCase();
    if (s === 'queued' || s === 'pending' || s === 'waiting') return 'queued';
    if (s === 'running' || s === 'active' || s === 'started') return 'running';
    if (s === 'succeeded' || s === 'success' || s === 'completed' || s === 'done') return 'succeeded';
    if (s === 'failed' || s === 'error' || s === 'cancelled' || s === 'canceled') return 'failed';
  }
  return undefined;
}

function num(v: unknown): number | undefined {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
}

/** Merges one SSE event's fields into the state (field names as /query_result's items use them). */
function applyEvent(state: JobState, ev: Record<string, unknown>): void {
  // `state` names queued apart from running; upstream's numeric `status` reads 0 for both.
  const st = statusOf(ev.state) ?? statusOf(ev.status);
  if (st && st !== 'succeeded') state.status = st; // the end with its items comes from /query_result
  const p = num(ev.progress);
  if (p !== undefined) state.progress = p > 1 ? p / 100 : p;
  if (typeof ev.stage === 'string' && ev.stage) state.stage = ev.stage;
  const text = ev.progress_text ?? ev.text ?? ev.message;
  if (typeof text === 'string' && text) state.text = text;
  const q = num(ev.queue_position);
  if (q !== undefined) state.queuePosition = q;
  if (typeof ev.error === 'string' && ev.error) state.error = ev.error;
}

/** Follows one job until it ends; `onChange` gets every new state, the last one with status succeeded/failed. */
export class JobFollower {
  readonly state: JobState;
  private stopped = false;
  private streamLive = false;
  private abort = new AbortController();
  private timer: number | undefined;
  private unknownCount = 0;

  constructor(
    readonly job: JobRecord,
    private onChange: (s: JobState) => void,
  ) {
    this.state = { status: 'queued', progress: 0, stage: 'queued', text: '', queuePosition: job.queue_position };
  }

  start(): void {
    void this.stream();
    void this.poll();
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  private emit(): void {
    if (!this.stopped) this.onChange({ ...this.state });
  }

  private finish(status: 'succeeded' | 'failed', items?: ResultItem[], error?: string): void {
    if (this.stopped) return;
    this.state.status = status;
    this.state.items = items;
    if (status === 'succeeded') this.state.progress = 1;
    if (error) this.state.error = error;
    this.emit();
    this.stop();
  }

  private async stream(): Promise<void> {
    try {
      const res = await fetch(url(`/v1/jobs/${encodeURIComponent(this.job.task_id)}/events`), {
        headers: { ...authHeaders(), Accept: 'text/event-stream' },
        signal: this.abort.signal,
      });
      if (!res.ok || !res.body) return;
      this.streamLive = true;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut: number;
        while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
          this.onBlock(block);
        }
      }
    } catch {
      /* aborted or the stream broke: polling carries on */
    } finally {
      this.streamLive = false;
    }
    // The stream ended (a job end or the server went away): ask for the end state now.
    if (!this.stopped) void this.poll();
  }

  private onBlock(block: string): void {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (!data.length) return;
    let ev: Record<string, unknown>;
    try {
      const parsed = JSON.parse(data.join('\n'));
      ev = parsed && typeof parsed === 'object' ? parsed : { message: String(parsed) };
    } catch {
      ev = { message: data.join('\n') };
    }
    if (event !== 'message' && ev.status === undefined) ev.status = event;
    applyEvent(this.state, ev);
    this.emit();
    const st = statusOf(ev.status);
    if (st === 'succeeded' || st === 'failed') void this.poll();
  }

  private async poll(): Promise<void> {
    if (this.stopped) return;
    try {
      const data = await call<Array<{ task_id: string; status: number; result: string | ResultItem[]; progress_text?: string }>>(
        '/query_result',
        { task_id_list: [this.job.task_id] },
      );
      const entry = Array.isArray(data) ? (data.find((d) => d.task_id === this.job.task_id) ?? data[0]) : undefined;
      const items: ResultItem[] = entry ? (typeof entry.result === 'string' ? JSON.parse(entry.result || '[]') : (entry.result ?? [])) : [];
      if (!entry || items.length === 0) {
        // Unknown to the server (its record expired, or another server): give up after a few answers.
        if (++this.unknownCount >= 5) return this.finish('failed', undefined, 'the server does not know this job');
      } else {
        this.unknownCount = 0;
        const first = items[0];
        if (entry.status === 1)
          return this.finish(
            'succeeded',
            items.filter((it) => it.file || it.status === 1),
          );
        if (entry.status === 2) return this.finish('failed', undefined, String(first.error ?? entry.progress_text ?? 'failed'));
        if (!this.streamLive) {
          applyEvent(this.state, { ...first, status: first.stage === 'queued' ? 'queued' : 'running' });
          if (entry.progress_text) this.state.text = entry.progress_text;
          this.emit();
        }
      }
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        this.state.text = e.message;
        this.emit();
      }
    }
    if (this.stopped) return;
    if (this.timer !== undefined) clearTimeout(this.timer); // one poll loop even when a stream event asked for an extra poll
    this.timer = window.setTimeout(() => void this.poll(), this.streamLive ? 4000 : 1500);
  }
}
