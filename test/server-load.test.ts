// Load on loopback: 20 concurrent clients send 200 submissions to a server whose queue holds 10
// jobs; every submission is answered (200 or 429, nothing else), the 429s are counted, and every
// accepted job finishes with its audio. Throughput figures are printed, not asserted (bench/ owns
// timing).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type AceStepServer } from '../src/index.js';
import { call, QUICK, tinyCheckpoints, waitAll } from './support/server.js';

let dir: string;
let server: AceStepServer;
let base: string;
const QUEUE_MAX = 10;

beforeAll(async () => {
  const t = tinyCheckpoints();
  dir = t.dir;
  server = await createServer({
    checkpoints: t.ckpt,
    device: 'cpu',
    dataDir: join(dir, 'data'),
    apiKey: null,
    queueMax: QUEUE_MAX,
    redis: null,
    lmMaxModelLen: 1024,
  });
  base = await server.listen({ port: 0 });
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('load', () => {
  it('200 submissions from 20 concurrent clients: 200 or 429 only, every accepted job finishes', async () => {
    const CLIENTS = 20,
      EACH = 10;
    const accepted: string[] = [];
    const statuses = new Map<number, number>();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        for (let i = 0; i < EACH; i++) {
          const r = await call(base, '/release_task', { json: { ...QUICK, prompt: `client ${c} job ${i}` } });
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.status === 200) accepted.push(r.body.data.task_id);
          else expect(r.body.detail).toBe('Server busy: queue is full');
          // A client that was turned away waits a little, as a polite client would.
          if (r.status === 429) await new Promise((res) => setTimeout(res, 50));
        }
      }),
    );
    const submitSeconds = (performance.now() - t0) / 1000;
    expect([...statuses.keys()].every((s) => s === 200 || s === 429)).toBe(true);
    expect((statuses.get(200) ?? 0) + (statuses.get(429) ?? 0)).toBe(CLIENTS * EACH);
    expect(statuses.get(429) ?? 0).toBeGreaterThan(0);
    expect(new Set(accepted).size).toBe(accepted.length);
    const done = await waitAll(base, accepted, 180_000, 250);
    const totalSeconds = (performance.now() - t0) / 1000;
    expect(done.size).toBe(accepted.length);
    for (const p of done.values()) expect(p.status).toBe(1);
    const stats = (await call(base, '/v1/stats')).body.data;
    expect(stats.jobs.succeeded).toBe(accepted.length);
    expect(stats.jobs.failed).toBe(0);
    console.log(
      `load test: ${CLIENTS * EACH} submissions from ${CLIENTS} clients (queue-max ${QUEUE_MAX}) in ${submitSeconds.toFixed(1)} s ` +
        `(${((CLIENTS * EACH) / submitSeconds).toFixed(1)} answers/s); ${accepted.length} accepted, ${statuses.get(429) ?? 0} answered 429; ` +
        `all ${accepted.length} finished after ${totalSeconds.toFixed(1)} s (${(accepted.length / totalSeconds).toFixed(2)} jobs/s, avg_job_seconds ${stats.avg_job_seconds})`,
    );
  }, 240_000);
});
