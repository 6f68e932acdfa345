// Scale-out on Redis through BullMQ: serve nodes add jobs (RedisQueue) and any number of worker
// processes (runRedisWorker, one per machine or GPU) run them. Progress, cancel flags, results and
// the audio bytes (base64) live in Redis, so no node needs a shared filesystem: a worker stores each
// generated file under an expiring key and a serve node writes it into its own audio dir when a
// client first fetches it; input audio (uploads, confined paths) travels the same way to the
// worker. A worker that dies mid-job loses its lock; BullMQ's stalled-job check hands the job to
// another worker, and only the lock holder can complete it, so it finishes exactly once.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { Job, Queue, UnrecoverableError, Worker, type ConnectionOptions } from 'bullmq';
import type { EngineHost } from './engine-host.js';
import { executeJob, JobFailedError } from './job-executor.js';
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

/** An ioredis client as BullMQ takes it (`connection`), plus quit() to close it. */
export type RedisClientHandle = ConnectionOptions & { quit(): Promise<unknown> };

const requireCjs = createRequire(import.meta.url);

/**
 * A new ioredis connection to `url`. BullMQ cannot load ioredis itself under native ESM, so the
 * client is built here (loaded through require, so an install beside the package is found too).
 */
export function redisClient(url: string): RedisClientHandle {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`redis URL must start with redis:// or rediss://, got ${url}`);
  let mod: { default?: unknown; Redis?: unknown };
  try {
    mod = requireCjs('ioredis') as typeof mod;
  } catch {
    throw new Error("the Redis queue needs the 'ioredis' package (a dependency of acestep): reinstall with npm install");
  }
  const Ctor = (mod.Redis ?? mod.default ?? mod) as new (url: string, opts: object) => RedisClientHandle;
  return new Ctor(url, { maxRetriesPerRequest: null });
}

export interface RedisQueueOptions {
  url: string;
  prefix: string;
  queueName: string;
  dataDir: string;
  queueMax: number;
  retentionMs: number;
}

/** Key names shared by serve nodes and workers. */
export class RedisKeys {
  constructor(readonly prefix: string) {}
  cancel = (id: string) => `${this.prefix}:acestep:cancel:${id}`;
  runs = (id: string) => `${this.prefix}:acestep:runs:${id}`;
  audio = (rel: string) => `${this.prefix}:acestep:audio:${rel}`;
  input = (id: string, slot: string) => `${this.prefix}:acestep:input:${id}:${slot}`;
}

/** What a poll of a job cancelled before it started reads back once the job left the queue. */
interface CancelledTombstone {
  createdAt: number;
  original: JobSpec['release']['original'];
}

/** Input audio travels with the job: [slot, file name] per stored file. */
interface RedisJobData extends JobSpec {
  inputs: { slot: 'src' | 'ref'; name: string }[];
}

function writeAtomic(path: string, data: Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export class RedisQueue implements JobQueue {
  readonly audioDir: string;
  readonly uploadDir: string;
  private readonly queue: Queue;
  private readonly keys: RedisKeys;
  private readonly conn: RedisClientHandle;

  constructor(private readonly opts: RedisQueueOptions) {
    this.audioDir = join(opts.dataDir, 'audio');
    this.uploadDir = join(opts.dataDir, 'uploads');
    this.keys = new RedisKeys(opts.prefix);
    this.conn = redisClient(opts.url);
    this.queue = new Queue(opts.queueName, { connection: this.conn, prefix: opts.prefix });
  }

  async ready(): Promise<void> {
    await this.queue.waitUntilReady();
  }

  private get ttl(): number {
    return Math.max(1, Math.ceil(this.opts.retentionMs / 1000));
  }

  /** Submits of this node, one at a time, so the queue-max check and the add do not interleave. */
  private submitting: Promise<unknown> = Promise.resolve();

  submit(spec: JobSpec): Promise<number> {
    const run = this.submitting.then(() => this.submitNow(spec));
    this.submitting = run.catch(() => undefined);
    return run;
  }

  private async submitNow(spec: JobSpec): Promise<number> {
    const c = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    if (Object.values(c).reduce((a, b) => a + b, 0) >= this.opts.queueMax) throw new QueueFullError();
    const client = await this.queue.getBackend().client;
    const inputs: RedisJobData['inputs'] = [];
    const r = spec.release;
    for (const [slot, path] of [
      ['src', r.srcAudioPath],
      ['ref', r.referenceAudioPath],
    ] as const) {
      if (!path) continue;
      await client.set(this.keys.input(spec.taskId, slot), readFileSync(path).toString('base64'), { EX: this.ttl });
      inputs.push({ slot, name: basename(path) });
    }
    const data: RedisJobData = { ...spec, inputs };
    await this.queue.add('generate', data, { jobId: spec.taskId, removeOnComplete: { age: this.ttl }, removeOnFail: { age: this.ttl } });
    // The bytes are in Redis now; the local upload copies are not needed.
    for (const u of spec.uploads) rmSync(u, { recursive: true, force: true });
    const after = await this.queue.getJobCounts('waiting', 'prioritized');
    return after.waiting + after.prioritized;
  }

  async get(taskId: string): Promise<JobRecord | null> {
    // The state first: a job read before it finishes and checked after would read 'completed' without its result.
    const state = await this.queue.getJobState(taskId);
    const job = (await Job.fromId(this.queue, taskId)) as Job<RedisJobData, { items: ResultItem[] }> | undefined;
    const client = await this.queue.getBackend().client;
    if (!job) return this.cancelledRecord(taskId, await client.get(this.keys.cancel(taskId)));
    const runs = Number((await client.get(this.keys.runs(taskId))) ?? 0);
    const cancelled = (await client.get(this.keys.cancel(taskId))) !== null;
    let status: JobStatus = state === 'active' ? 'running' : state === 'completed' ? 'succeeded' : state === 'failed' ? 'failed' : 'queued';
    let error = state === 'failed' ? job.failedReason || 'failed' : null;
    if (status === 'queued' && cancelled) {
      status = 'failed';
      error = CANCELLED;
    }
    const p = (typeof job.progress === 'object' && job.progress ? job.progress : {}) as Partial<JobProgress>;
    const stage = status === 'queued' ? 'queued' : (p.stage ?? 'starting');
    return {
      taskId,
      status,
      createdAt: job.timestamp / 1000,
      startedAt: job.processedOn ? job.processedOn / 1000 : null,
      finishedAt: job.finishedOn ? job.finishedOn / 1000 : null,
      progress: status === 'queued' ? 0 : (p.progress ?? 0),
      stage,
      text: status === 'queued' && runs > 0 ? 'queued again: the worker running it stopped' : (p.text ?? ''),
      error,
      items: status === 'succeeded' ? (job.returnvalue?.items ?? []) : [],
      reruns: Math.max(0, runs - 1),
      original: job.data.release.original,
    };
  }

  /**
   * A waiting job leaves the queue at once (its slot is free again) and a tombstone under its
   * cancel key answers later polls; a running one gets the flag its worker polls.
   */
  async cancel(taskId: string): Promise<CancelOutcome> {
    const job = (await Job.fromId(this.queue, taskId)) as Job<RedisJobData> | undefined;
    const client = await this.queue.getBackend().client;
    if (!job) return (await client.get(this.keys.cancel(taskId))) !== null ? 'finished' : 'not_found';
    const state = await job.getState();
    if (state === 'completed' || state === 'failed') return 'finished';
    if (state !== 'active') {
      const tombstone: CancelledTombstone = { createdAt: job.timestamp / 1000, original: job.data.release.original };
      await client.set(this.keys.cancel(taskId), JSON.stringify(tombstone), { EX: this.ttl });
      try {
        await job.remove();
        await client.del(this.keys.input(taskId, 'src'), this.keys.input(taskId, 'ref'));
        return 'cancelled';
      } catch {
        // A worker took it meanwhile: the flag stops it there.
      }
    } else await client.set(this.keys.cancel(taskId), '1', { EX: this.ttl });
    return (await job.getState()) === 'active' ? 'cancelling' : 'cancelled';
  }

  private cancelledRecord(taskId: string, flag: string | null): JobRecord | null {
    if (flag === null || !flag.startsWith('{')) return null;
    const t = JSON.parse(flag) as CancelledTombstone;
    return {
      taskId,
      status: 'failed',
      createdAt: t.createdAt,
      startedAt: null,
      finishedAt: null,
      progress: 0,
      stage: 'failed',
      text: 'cancelled before it started',
      error: CANCELLED,
      items: [],
      reruns: 0,
      original: t.original,
    };
  }

  async stats(): Promise<QueueStats> {
    const c = await this.queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
    const queued = c.waiting + c.delayed + c.prioritized;
    const done = await this.queue.getJobs(['completed'], 0, 49);
    const secs = done.filter((j) => j.finishedOn && j.processedOn).map((j) => (j.finishedOn! - j.processedOn!) / 1000);
    const avg = secs.length ? secs.reduce((a, b) => a + b, 0) / secs.length : 0;
    return {
      jobs: { total: queued + c.active + c.completed + c.failed, queued, running: c.active, succeeded: c.completed, failed: c.failed },
      queue_size: queued,
      queue_maxsize: this.opts.queueMax,
      avg_job_seconds: Math.round(avg * 1000) / 1000,
    };
  }

  async audioFile(relative: string): Promise<string | null> {
    const path = join(this.audioDir, relative);
    if (existsSync(path)) return path;
    const client = await this.queue.getBackend().client;
    const b64 = await client.get(this.keys.audio(relative));
    if (b64 === null) return null;
    writeAtomic(path, Buffer.from(b64, 'base64'));
    return path;
  }

  async close(): Promise<void> {
    await this.queue.close();
    await this.conn.quit().catch(() => undefined);
  }
}

export interface RedisWorkerOptions {
  url: string;
  prefix?: string;
  queueName?: string;
  dataDir: string;
  host: EngineHost;
  retentionMs?: number;
  /** Lock time of a running job; a worker silent this long is presumed dead (default 30 s). */
  lockMs?: number;
  /** How often the stalled-job check runs (default lockMs). */
  stalledIntervalMs?: number;
  /** Called when a job starts running here (after its run was counted), and when it ends. */
  onJob?: (event: 'started' | 'finished' | 'failed', taskId: string, detail?: string) => void;
}

export interface RedisWorker {
  worker: Worker;
  close(): Promise<void>;
}

/** Runs jobs from the Redis queue on this process's engine, one at a time. */
export async function runRedisWorker(o: RedisWorkerOptions): Promise<RedisWorker> {
  const prefix = o.prefix ?? 'acestep';
  const keys = new RedisKeys(prefix);
  const ttl = Math.max(1, Math.ceil((o.retentionMs ?? 7 * 24 * 3600 * 1000) / 1000));
  const audioDir = join(o.dataDir, 'audio');
  const uploadDir = join(o.dataDir, 'uploads');
  const lockMs = o.lockMs ?? 30_000;
  await o.host.load();
  const conn = redisClient(o.url);
  const worker = new Worker<RedisJobData, { items: ResultItem[] }>(
    o.queueName ?? 'generate',
    async (job) => {
      const client = await worker.getBackend().client;
      const id = job.data.taskId;
      // One worker holds a job at a time, so a plain read-then-write counts its runs.
      await client.set(keys.runs(id), Number((await client.get(keys.runs(id))) ?? 0) + 1, { EX: ttl });
      o.onJob?.('started', id);
      if ((await client.get(keys.cancel(id))) !== null) throw new UnrecoverableError(CANCELLED);
      // Input audio comes out of Redis into this worker's own upload folder.
      const spec: JobSpec = { ...job.data, release: { ...job.data.release }, uploads: [join(uploadDir, id)] };
      for (const inp of job.data.inputs) {
        const b64 = await client.get(keys.input(id, inp.slot));
        if (b64 === null) throw new UnrecoverableError(`input audio of the job expired from the store (${inp.slot})`);
        const path = join(uploadDir, id, `${inp.slot}-${inp.name}`);
        writeAtomic(path, Buffer.from(b64, 'base64'));
        if (inp.slot === 'src') spec.release.srcAudioPath = path;
        else spec.release.referenceAudioPath = path;
      }
      const ctl = new AbortController();
      const poll = setInterval(() => {
        client.get(keys.cancel(id)).then(
          (v) => v !== null && ctl.abort(),
          () => undefined,
        );
      }, 250);
      try {
        const items = await executeJob(o.host, spec, audioDir, (p) => void job.updateProgress(p).catch(() => undefined), ctl.signal);
        for (const it of items)
          if (it.audio) await client.set(keys.audio(it.audio), readFileSync(join(audioDir, it.audio)).toString('base64'), { EX: ttl });
        await client.del(keys.input(id, 'src'), keys.input(id, 'ref'));
        return { items };
      } catch (e) {
        if (e instanceof JobFailedError) throw new UnrecoverableError(e.message);
        throw e;
      } finally {
        clearInterval(poll);
        rmSync(join(audioDir, id), { recursive: true, force: true });
        rmSync(join(uploadDir, id), { recursive: true, force: true });
      }
    },
    {
      connection: conn,
      prefix,
      concurrency: 1,
      lockDuration: lockMs,
      stalledInterval: o.stalledIntervalMs ?? lockMs,
      maxStalledCount: 3,
    },
  );
  worker.on('completed', (job) => o.onJob?.('finished', String(job.id)));
  worker.on('failed', (job, err) => o.onJob?.('failed', String(job?.id), err.message));
  await worker.waitUntilReady();
  return {
    worker,
    async close() {
      await worker.close();
      await conn.quit().catch(() => undefined);
    },
  };
}
