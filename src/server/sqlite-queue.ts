// The embedded job queue: jobs live in a SQLite file (WAL, synchronous=FULL) in the data dir, so a
// job answered with a task_id is on disk before the answer leaves. One runner in this process
// takes jobs in submission order. After a crash or kill -9, opening the store puts the job that
// was running back in the queue (counting the re-run in its record) and the runner starts again;
// finished records and their audio stay served until the retention age removes them.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { EngineHost } from './engine-host.js';
import { executeJob } from './job-executor.js';
import {
  CANCELLED,
  QueueFullError,
  type CancelOutcome,
  type JobProgress,
  type JobQueue,
  type JobRecord,
  type JobSpec,
  type JobStatus,
  type QueueStats,
  type ResultItem,
} from './jobs.js';

export interface SqliteQueueOptions {
  dataDir: string;
  queueMax: number;
  /** Finished jobs and their audio are removed after this many ms. */
  retentionMs: number;
  /** The engine that runs jobs; null = a store that only answers (no runner). */
  host: EngineHost | null;
}

interface Row {
  seq: number;
  task_id: string;
  status: JobStatus;
  spec: string;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  progress: number;
  stage: string;
  progress_text: string;
  error: string | null;
  items: string | null;
  reruns: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id TEXT NOT NULL UNIQUE,
  status TEXT NOT NULL,
  spec TEXT NOT NULL,
  created_at REAL NOT NULL,
  started_at REAL,
  finished_at REAL,
  progress REAL NOT NULL DEFAULT 0,
  stage TEXT NOT NULL DEFAULT 'queued',
  progress_text TEXT NOT NULL DEFAULT '',
  error TEXT,
  items TEXT,
  reruns INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_at);
`;

const now = () => Date.now() / 1000;

/** A job cut off this many times (each a crash of the server while it ran) is failed, not run again. */
export const MAX_RERUNS = 3;

export class SqliteQueue implements JobQueue {
  readonly audioDir: string;
  readonly uploadDir: string;
  private readonly db: Database.Database;
  private readonly controllers = new Map<string, AbortController>();
  private running: Promise<void> | null = null;
  private closed = false;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly opts: SqliteQueueOptions) {
    mkdirSync(opts.dataDir, { recursive: true });
    this.audioDir = join(opts.dataDir, 'audio');
    this.uploadDir = join(opts.dataDir, 'uploads');
    mkdirSync(this.audioDir, { recursive: true });
    mkdirSync(this.uploadDir, { recursive: true });
    this.db = new Database(join(opts.dataDir, 'jobs.sqlite'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    if (opts.host) {
      // A job left 'running' was cut off by a crash: run it again and say so, unless it keeps
      // taking the server down with it.
      this.db
        .prepare(
          `UPDATE jobs SET status = 'failed', reruns = reruns + 1, stage = 'failed', progress = 0, finished_at = ?, error = ? WHERE status = 'running' AND reruns + 1 >= ?`,
        )
        .run(now(), `the server stopped ${MAX_RERUNS} times while running this job`, MAX_RERUNS);
      this.db
        .prepare(
          `UPDATE jobs SET status = 'queued', reruns = reruns + 1, progress = 0, stage = 'queued', progress_text = 'queued again: the server stopped while this job was running' WHERE status = 'running'`,
        )
        .run();
    }
    this.sweep();
    this.sweeper = setInterval(() => this.sweep(), Math.max(1000, Math.min(opts.retentionMs / 10, 3600_000)));
    this.sweeper.unref();
    this.kick();
  }

  async submit(spec: JobSpec): Promise<number> {
    const insert = this.db.transaction(() => {
      const queued = (this.db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE status IN ('queued', 'running')`).get() as { n: number }).n;
      if (queued >= this.opts.queueMax) throw new QueueFullError();
      this.db
        .prepare(`INSERT INTO jobs (task_id, status, spec, created_at) VALUES (?, 'queued', ?, ?)`)
        .run(spec.taskId, JSON.stringify(spec), spec.createdAt);
      return (this.db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE status = 'queued'`).get() as { n: number }).n;
    });
    const position = insert.immediate();
    this.kick();
    return position;
  }

  async get(taskId: string): Promise<JobRecord | null> {
    const row = this.db.prepare('SELECT * FROM jobs WHERE task_id = ?').get(taskId) as Row | undefined;
    if (!row) return null;
    const rec = toRecord(row);
    if (row.status === 'queued')
      rec.queuePosition = (
        this.db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE status = 'queued' AND seq <= ?`).get(row.seq) as { n: number }
      ).n;
    return rec;
  }

  async cancel(taskId: string): Promise<CancelOutcome> {
    const row = this.db.prepare('SELECT status FROM jobs WHERE task_id = ?').get(taskId) as { status: JobStatus } | undefined;
    if (!row) return 'not_found';
    if (row.status === 'succeeded' || row.status === 'failed') return 'finished';
    const changed = this.db
      .prepare(
        `UPDATE jobs SET status = 'failed', error = ?, stage = 'failed', progress_text = 'cancelled before it started', finished_at = ? WHERE task_id = ? AND status = 'queued'`,
      )
      .run(CANCELLED, now(), taskId).changes;
    if (changed) {
      this.removeUploads(taskId);
      return 'cancelled';
    }
    this.controllers.get(taskId)?.abort();
    return 'cancelling';
  }

  async stats(): Promise<QueueStats> {
    const counts = { total: 0, queued: 0, running: 0, succeeded: 0, failed: 0 };
    for (const r of this.db.prepare('SELECT status, COUNT(*) AS n FROM jobs GROUP BY status').all() as { status: JobStatus; n: number }[]) {
      counts[r.status] = r.n;
      counts.total += r.n;
    }
    const recent = this.db
      .prepare(
        `SELECT finished_at - started_at AS s FROM jobs WHERE status = 'succeeded' AND started_at IS NOT NULL ORDER BY finished_at DESC LIMIT 50`,
      )
      .all() as { s: number }[];
    const avg = recent.length ? recent.reduce((a, r) => a + r.s, 0) / recent.length : 0;
    return { jobs: counts, queue_size: counts.queued, queue_maxsize: this.opts.queueMax, avg_job_seconds: Math.round(avg * 1000) / 1000 };
  }

  async audioFile(relative: string): Promise<string | null> {
    return join(this.audioDir, relative);
  }

  /** Waits for the running job (if any) to end; used by close() and tests. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const c of this.controllers.values()) c.abort();
    await this.idle();
    this.db.close();
  }

  /** Starts the runner when it is idle and there is work. */
  private kick(): void {
    if (!this.opts.host || this.running || this.closed) return;
    this.running = this.runAll().finally(() => {
      this.running = null;
      // A job submitted while the runner was winding down would otherwise wait for the next submit.
      if (!this.closed && this.db.prepare(`SELECT 1 FROM jobs WHERE status = 'queued' LIMIT 1`).get()) this.kick();
    });
  }

  private claim(): Row | undefined {
    return this.db
      .prepare(
        `UPDATE jobs SET status = 'running', started_at = ?, stage = 'starting', progress = 0
         WHERE seq = (SELECT seq FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1) RETURNING *`,
      )
      .get(now()) as Row | undefined;
  }

  private async runAll(): Promise<void> {
    // Let the submitting request answer first.
    await new Promise((r) => setImmediate(r));
    for (let row = this.claim(); row && !this.closed; row = this.closed ? undefined : this.claim()) {
      await this.runOne(row);
    }
  }

  private async runOne(row: Row): Promise<void> {
    const spec = JSON.parse(row.spec) as JobSpec;
    const ctl = new AbortController();
    this.controllers.set(spec.taskId, ctl);
    const progress = this.db.prepare(`UPDATE jobs SET progress = ?, stage = ?, progress_text = ? WHERE task_id = ? AND status = 'running'`);
    const report = (p: JobProgress) => progress.run(p.progress, p.stage, p.text, spec.taskId);
    // A re-run starts clean: files of a run cut off before its record was written are dropped.
    rmSync(join(this.audioDir, spec.taskId), { recursive: true, force: true });
    try {
      const items = await executeJob(this.opts.host!, spec, this.audioDir, report, ctl.signal);
      this.db
        .prepare(
          `UPDATE jobs SET status = 'succeeded', items = ?, progress = 1, stage = 'succeeded', progress_text = 'done', finished_at = ? WHERE task_id = ?`,
        )
        .run(JSON.stringify(items), now(), spec.taskId);
    } catch (e) {
      // Closing: leave it 'running' so the next start runs it again.
      if (this.closed) return;
      const msg = (e as Error).message ?? String(e);
      this.db
        .prepare(`UPDATE jobs SET status = 'failed', error = ?, stage = 'failed', progress = 0, finished_at = ? WHERE task_id = ?`)
        .run(msg, now(), spec.taskId);
      rmSync(join(this.audioDir, spec.taskId), { recursive: true, force: true });
    } finally {
      this.controllers.delete(spec.taskId);
      if (!this.closed) this.removeUploads(spec.taskId);
    }
  }

  private removeUploads(taskId: string): void {
    rmSync(join(this.uploadDir, taskId), { recursive: true, force: true });
  }

  /** Retention: finished records and their audio older than the configured age are removed. */
  private sweep(): void {
    if (this.closed) return;
    const cutoff = now() - this.opts.retentionMs / 1000;
    const old = this.db.prepare(`SELECT task_id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?`).all(cutoff) as {
      task_id: string;
    }[];
    for (const { task_id } of old) {
      rmSync(join(this.audioDir, task_id), { recursive: true, force: true });
      this.removeUploads(task_id);
    }
    this.db.prepare(`DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?`).run(cutoff);
  }
}

function toRecord(row: Row): JobRecord {
  const spec = JSON.parse(row.spec) as JobSpec;
  return {
    taskId: row.task_id,
    status: row.status,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    progress: row.progress,
    stage: row.stage,
    text: row.progress_text,
    error: row.error,
    items: row.items ? (JSON.parse(row.items) as ResultItem[]) : [],
    reruns: row.reruns,
    original: spec.release.original,
  };
}
