// Scale-out on Redis (127.0.0.1:6379): a front `createServer({ redis })` node with no models of its
// own, two `acestep worker` child processes; one worker is killed with SIGKILL mid-job and the job
// finishes exactly once on the other (BullMQ stalled-job recovery). Also: uploads and results
// travel through Redis, cancel, 429 and stats. Each run uses its own key prefix. Outside CI the
// file skips when Redis is not running; in CI (CI=true) a missing Redis fails it.
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type AceStepServer } from '../src/index.js';
import { redisClient } from '../src/server/redis-queue.js';
import { decodeAudio } from '../src/io/audio/index.js';
import { call, query, QUICK, spawnCli, submit, tinyCheckpoints, waitAll, writeTone, type Child } from './support/server.js';

const REDIS = 'redis://127.0.0.1:6379';

function redisUp(): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(6379, '127.0.0.1');
    s.setTimeout(1000);
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      res(d.toString().startsWith('+PONG'));
    });
    s.once('error', () => res(false));
    s.once('timeout', () => {
      s.destroy();
      res(false);
    });
  });
}

function ioredisInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('ioredis');
    return true;
  } catch {
    return false;
  }
}

const inCi = process.env.CI === 'true';
const missing = !ioredisInstalled() ? 'the ioredis package is not installed' : !(await redisUp()) ? 'no Redis at 127.0.0.1:6379' : null;

if (missing && inCi) {
  it('Redis and ioredis are required in CI', () => {
    throw new Error(`${missing}; start redis-server (and npm ci) before the tests`);
  });
}

describe.skipIf(missing !== null)(missing ? `Redis scale-out (skipped: ${missing})` : 'Redis scale-out', () => {
  const prefix = `acestep-test-${process.pid}-${Date.now()}`;
  const queueName = 'generate';
  let dir: string;
  let ckpt: string;
  let front: AceStepServer;
  let base: string;
  const workers: Child[] = [];

  const startWorker = async (n: number): Promise<Child> => {
    const c = spawnCli([
      'worker',
      '--redis',
      REDIS,
      '--checkpoints',
      ckpt,
      '--data-dir',
      join(dir, `worker${n}`),
      '--device',
      'cpu',
      '--redis-prefix',
      prefix,
      '--queue-name',
      queueName,
      '--lock-ms',
      '2000',
      '--lm-max-model-len',
      '1024',
    ]);
    workers.push(c);
    await c.waitFor(/acestep worker: ready/, 90_000);
    return c;
  };

  beforeAll(async () => {
    ({ dir, ckpt } = tinyCheckpoints());
    front = await createServer({
      checkpoints: null,
      dataDir: join(dir, 'front'),
      apiKey: null,
      redis: REDIS,
      redisPrefix: prefix,
      queueName,
      queueMax: 12,
    });
    base = await front.listen({ port: 0 });
    await Promise.all([startWorker(1), startWorker(2)]);
  }, 180_000);

  afterAll(async () => {
    for (const w of workers) await w.kill9();
    await front?.close();
    const conn = redisClient(REDIS);
    const q = new Queue(queueName, { connection: conn, prefix });
    await q.obliterate({ force: true }).catch(() => undefined);
    const client = await q.getBackend().client;
    for (let cursor = '0'; ;) {
      const [next, keys] = (await client.scan(cursor, { MATCH: `${prefix}:*`, COUNT: 500 })) as [string, string[]];
      if (keys.length) await client.del(...keys);
      if (next === '0') break;
      cursor = next;
    }
    await q.close();
    await conn.quit();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a worker killed mid-job: the job finishes exactly once on the other worker', async () => {
    const id = await submit(base, { ...QUICK, audio_duration: 600, inference_steps: 8 });
    const started = new RegExp(`job ${id} started`);
    const owner = await Promise.race(workers.map((w) => w.waitFor(started, 60_000).then(() => w)));
    await owner.kill9();
    const other = workers.find((w) => w !== owner)!;
    const p = (await waitAll(base, [id], 90_000, 200)).get(id)!;
    expect(p.status).toBe(1);
    const it0 = JSON.parse(p.result)[0];
    expect(it0.reruns).toBe(1);
    const finished = (s: string) => (s.match(new RegExp(`job ${id} finished`, 'g')) ?? []).length;
    expect(finished(other.output())).toBe(1);
    expect(finished(owner.output())).toBe(0);
    // The audio came through Redis to the front node.
    const a = await fetch(base + it0.file);
    expect(a.status).toBe(200);
    const pcm = await decodeAudio(new Uint8Array(await a.arrayBuffer()), 'x.wav');
    expect(pcm.channels[0].length).toBe(600 * 200);
    // A replacement worker joins.
    await startWorker(3);
  }, 180_000);

  it('many jobs spread over the workers; multipart uploads travel through Redis; stats count them', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await submit(base, { ...QUICK, seed: i, use_random_seed: false }));
    const form = new FormData();
    for (const [k, v] of Object.entries({ ...QUICK, task_type: 'cover' })) form.append(k, String(v));
    form.append('src_audio', new Blob([readFileSync(writeTone(join(dir, 'src.wav'), 6))]), 'src.wav');
    const up = await call(base, '/release_task', { method: 'POST', body: form });
    expect(up.status).toBe(200);
    ids.push(up.body.data.task_id);
    const done = await waitAll(base, ids, 120_000, 200);
    expect(done.size).toBe(ids.length);
    for (const [i, id] of ids.entries()) {
      const it0 = JSON.parse(done.get(id)!.result)[0];
      expect(done.get(id)!.status, id).toBe(1);
      if (i < 6) expect(it0.seed_value).toBe(String(i));
    }
    const stats = (await call(base, '/v1/stats')).body.data;
    expect(stats.jobs.succeeded).toBeGreaterThanOrEqual(ids.length + 1);
    expect(stats.queue_maxsize).toBe(12);
    expect(stats.avg_job_seconds).toBeGreaterThan(0);
  }, 180_000);

  it('cancel over Redis: queued and running jobs read failed "cancelled"; a full queue answers 429', async () => {
    // Occupy both live workers with long jobs (about 3 s each here), then queue one more.
    const long = await Promise.all([0, 1].map(() => submit(base, { ...QUICK, audio_duration: 600, inference_steps: 8 })));
    for (let i = 0; i < 500; i++) {
      const states = await query(base, long);
      if (states.every((s) => JSON.parse(s.result)[0].stage !== 'queued')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const queued = await submit(base, QUICK);
    expect((await call(base, '/v1/cancel', { json: { task_id: queued } })).body.data.status).toBe('cancelled');
    expect((await query(base, [queued]))[0].status).toBe(2);
    for (const id of long) expect((await call(base, '/v1/cancel', { json: { task_id: id } })).body.data.status).toBe('cancelling');
    const done = await waitAll(base, [...long, queued], 60_000, 200);
    for (const id of [...long, queued]) {
      expect(done.get(id)!.status, id).toBe(2);
      expect(JSON.parse(done.get(id)!.result)[0].error).toBe('cancelled');
    }
    // 12 slots, 20 submissions at once: this node checks and adds one submission at a time.
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => call(base, '/release_task', { json: { ...QUICK, audio_duration: 600, inference_steps: 8 } })),
    );
    const ok = answers.filter((r) => r.status === 200).map((r) => r.body.data.task_id as string);
    expect(ok.length).toBe(12);
    expect(answers.filter((r) => r.status === 429).length).toBe(20 - ok.length);
    for (const id of ok) await call(base, '/v1/cancel', { json: { task_id: id } });
    const ended = await waitAll(base, ok, 60_000, 200);
    expect(ended.size).toBe(ok.length);
  }, 180_000);

  it('a front node without models answers LM endpoints 503', async () => {
    const r = await call(base, '/format_input', { json: { prompt: 'x' } });
    expect(r.status).toBe(503);
    expect(r.body.detail).toMatch(/^LLM not initialized/);
  });
});
