// An accepted job is never lost: `acestep serve` runs as a child process with its SQLite job store,
// is killed with SIGKILL while jobs are queued and one is running, and restarted on the same data
// dir, twice. Every accepted job then finishes; the jobs that were running say they were run again;
// a result finished before the kills is still served with its audio.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { EngineHost } from '../src/server/engine-host.js';
import { readReleaseFields } from '../src/server/release-fields.js';
import { MAX_RERUNS, SqliteQueue } from '../src/server/sqlite-queue.js';
import { call, query, QUICK, spawnCli, submit, tinyCheckpoints, waitAll, type Child } from './support/server.js';

let dir: string;
let ckpt: string;
const children: Child[] = [];

beforeAll(() => {
  ({ dir, ckpt } = tinyCheckpoints());
}, 120_000);

afterAll(async () => {
  for (const c of children) await c.kill9();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function startServer(dataDir: string): Promise<string> {
  const c = spawnCli([
    'serve',
    '--checkpoints',
    ckpt,
    '--port',
    '0',
    '--data-dir',
    dataDir,
    '--device',
    'cpu',
    '--lm-max-model-len',
    '1024',
    '--queue-max',
    '100',
  ]);
  children.push(c);
  const m = await c.waitFor(/listening on (http:\/\/\S+)/, 90_000);
  return m[1];
}

/** Jobs long enough (a second or more each on the tiny models) that a kill lands mid-run (turbo runs at most 8 steps). */
const SLOW = { ...QUICK, audio_duration: 600, inference_steps: 8 };

describe('acestep serve command line', () => {
  it('serve refuses a non-loopback --host without a key (exit 2) and bad flags; worker needs --redis', async () => {
    for (const [args, re] of [
      [['--host', '0.0.0.0'], /refusing to listen on '0\.0\.0\.0' without an API key/],
      [['--queue-max', '0'], /--queue-max must be an integer >= 1/],
      [['--device', 'tpu'], /must be auto, cpu or cuda/],
    ] as const) {
      const c = spawnCli(['serve', '--checkpoints', ckpt, '--data-dir', join(dir, 'refused'), ...args], { ACESTEP_API_KEY: '' });
      children.push(c);
      const code = await new Promise<number | null>((res) => c.proc.once('exit', res));
      expect(code, c.output()).toBe(2);
      expect(c.output()).toMatch(re);
    }
    const w = spawnCli(['worker', '--checkpoints', ckpt], { REDIS_URL: '' });
    children.push(w);
    expect(await new Promise<number | null>((res) => w.proc.once('exit', res))).toBe(2);
    expect(w.output()).toMatch(/--redis <url> \(or env REDIS_URL\) is required/);
  }, 60_000);
});

describe('kill -9 of the server with the SQLite job store', () => {
  it('every accepted job finishes across two kill -9 / restart cycles', async () => {
    const dataDir = join(dir, 'data');
    let base = await startServer(dataDir);
    const early = await submit(base, QUICK);
    const earlyDone = (await waitAll(base, [early], 60_000)).get(early)!;
    expect(earlyDone.status).toBe(1);
    const earlyFile = JSON.parse(earlyDone.result)[0].file as string;

    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push(await submit(base, SLOW));
    const cutOff = new Map<string, number>();
    for (let cycle = 0; cycle < 2; cycle++) {
      // Wait for a job in diffusion, then kill at once.
      let states: { id: string; stage: string; status: number }[] = [];
      for (let i = 0; i < 600; i++) {
        states = (await query(base, ids)).map((p) => ({ id: p.task_id, status: p.status, stage: JSON.parse(p.result)[0]?.stage ?? '' }));
        if (states.some((s) => s.stage === 'diffusion')) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      const running = states.filter((s) => s.stage === 'diffusion').map((s) => s.id);
      expect(running).toHaveLength(1);
      expect(states.filter((s) => s.status === 0 && s.stage === 'queued').length).toBeGreaterThanOrEqual(1);
      await children.at(-1)!.kill9();
      cutOff.set(running[0], (cutOff.get(running[0]) ?? 0) + 1);
      base = await startServer(dataDir);
    }

    const done = await waitAll(base, ids, 120_000, 200);
    expect(done.size).toBe(ids.length);
    let reruns = 0;
    for (const id of ids) {
      const p = done.get(id)!;
      expect(p.status, id).toBe(1);
      const it0 = JSON.parse(p.result)[0];
      expect(it0.reruns).toBe(cutOff.get(id) ?? 0);
      reruns += it0.reruns;
      expect((await fetch(base + it0.file)).status).toBe(200);
    }
    expect(reruns).toBe(2);
    // The result finished before both kills is still there, audio included.
    const [again] = await query(base, [early]);
    expect(again.status).toBe(1);
    expect(JSON.parse(again.result)[0].file).toBe(earlyFile);
    expect((await fetch(base + earlyFile)).status).toBe(200);
    const stats = (await call(base, '/v1/stats')).body.data;
    expect(stats.jobs).toMatchObject({ total: ids.length + 1, succeeded: ids.length + 1, failed: 0, queued: 0, running: 0 });
    console.log(
      `kill -9 test: ${ids.length + 1} jobs accepted, 2 kills, ${cutOff.size} distinct cut-off jobs re-run, ${done.size + 1} finished`,
    );
  }, 240_000);
});

describe('the SQLite store on start', () => {
  it(`a job cut off ${MAX_RERUNS} times is failed instead of run again; one cut off less often is queued again`, async () => {
    const dataDir = join(dir, 'poison');
    // A store written by a server that died with two jobs running.
    const first = new SqliteQueue({ dataDir, queueMax: 10, retentionMs: 3600_000, host: null });
    await first.close();
    const db = new Database(join(dataDir, 'jobs.sqlite'));
    const spec = (taskId: string) => JSON.stringify({ taskId, createdAt: 1, release: readReleaseFields({ prompt: taskId }), uploads: [] });
    const insert = db.prepare(`INSERT INTO jobs (task_id, status, spec, created_at, reruns) VALUES (?, 'running', ?, 1, ?)`);
    insert.run('poison', spec('poison'), MAX_RERUNS - 1);
    insert.run('victim', spec('victim'), 0);
    db.close();
    // Reopened with an engine whose checkpoints are missing: the re-run itself fails at load, which
    // leaves the re-run count to check.
    const q = new SqliteQueue({
      dataDir,
      queueMax: 10,
      retentionMs: 3600_000,
      host: new EngineHost({ checkpoints: join(dir, 'no-such-checkpoints'), device: 'cpu' }),
    });
    try {
      const poison = (await q.get('poison'))!;
      expect(poison.status).toBe('failed');
      expect(poison.error).toBe(`the server stopped ${MAX_RERUNS} times while running this job`);
      expect(poison.reruns).toBe(MAX_RERUNS);
      await q.idle();
      const victim = (await q.get('victim'))!;
      expect(victim.reruns).toBe(1);
      expect(victim.status).toBe('failed');
      expect(victim.error).toMatch(/checkpoint root folder does not exist/);
    } finally {
      await q.close();
    }
  });
});
