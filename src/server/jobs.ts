// The job model shared by both queue backends (SQLite embedded, Redis/BullMQ): what a submitted
// job holds, what a poll reads back, and the JobQueue interface the HTTP routes talk to.
import type { ReleaseJob } from './release-fields.js';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

/** Upstream's numeric task status (contract §2). */
export const STATUS_CODE: Record<JobStatus, number> = { queued: 0, running: 0, succeeded: 1, failed: 2 };

/** A job as accepted: everything a worker needs to run it, with audio paths already confined. */
export interface JobSpec {
  taskId: string;
  /** Seconds since the epoch. */
  createdAt: number;
  release: ReleaseJob;
  /** Uploaded files owned by the job, deleted when it ends. */
  uploads: string[];
}

/**
 * One generated audio of a finished job (contract §5 item fields; `audio` is relative to the audio
 * dir, "" for an analysis job without audio, whose findings are in `extra`).
 */
export interface ResultItem {
  audio: string;
  prompt: string;
  lyrics: string;
  metas: Record<string, unknown>;
  generation_info: string;
  seed_value: string;
  lm_model: string;
  dit_model: string;
  /** More fields of the item (analysis: audio_codes, bpm, keyscale, ... flat as upstream answers). */
  extra?: Record<string, unknown>;
}

export interface JobProgress {
  progress: number;
  stage: string;
  text: string;
}

export interface JobRecord extends JobProgress {
  taskId: string;
  status: JobStatus;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  error: string | null;
  items: ResultItem[];
  /** How many times a run was cut off (server restart or a lost worker) and the job run again. */
  reruns: number;
  /** Original caption / lyrics as sent. */
  original: { prompt: string; lyrics: string };
  /** 1-based place among the waiting jobs while queued, where the store knows it. */
  queuePosition?: number;
}

export interface QueueStats {
  jobs: { total: number; queued: number; running: number; succeeded: number; failed: number };
  queue_size: number;
  queue_maxsize: number;
  avg_job_seconds: number;
}

export type CancelOutcome = 'cancelled' | 'cancelling' | 'finished' | 'not_found';

/** Thrown by submit() when the queue holds queue-max jobs (answered 429). */
export class QueueFullError extends Error {
  constructor() {
    super('Server busy: queue is full');
  }
}

export const CANCELLED = 'cancelled';

export interface JobQueue {
  /** Durably records the job before resolving; resolves to its 1-based queue position. */
  submit(spec: JobSpec): Promise<number>;
  get(taskId: string): Promise<JobRecord | null>;
  cancel(taskId: string): Promise<CancelOutcome>;
  stats(): Promise<QueueStats>;
  /** Local path of a finished job's audio (fetched from the store when it lives elsewhere). */
  audioFile(relative: string): Promise<string | null>;
  close(): Promise<void>;
}
