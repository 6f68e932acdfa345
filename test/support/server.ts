// Helpers of the server tests: the tiny checkpoint root (written once per test file), a loopback
// HTTP client with upstream's envelope, a test tone, polling, and child processes of the compiled
// `acestep` command (dist/ is rebuilt with tsc when any source is newer).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { makeTinyCheckpoints } from '../../scripts/make-tiny-checkpoints.js';
import { writeWav } from '../../src/io/audio/index.js';
import { addonPath } from '../../src/runtime/native.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A temp folder holding the tiny checkpoint root at `<dir>/ckpt`. */
export function tinyCheckpoints(): { dir: string; ckpt: string } {
  const dir = mkdtempSync(join(tmpdir(), 'acestep-server-'));
  const ckpt = makeTinyCheckpoints(join(dir, 'ckpt'));
  return { dir, ckpt };
}

/** A stereo tone at the tiny VAE's 200 Hz rate. */
export function writeTone(path: string, seconds: number): string {
  const sr = 200,
    n = seconds * sr;
  const l = new Float32Array(n),
    r = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    l[i] = 0.5 * Math.sin((2 * Math.PI * 7 * i) / sr);
    r[i] = 0.3 * Math.sin((2 * Math.PI * 11 * i) / sr);
  }
  writeFileSync(path, writeWav({ sampleRate: sr, channels: [l, r] }, true));
  return path;
}

/** Fast job fields on the tiny models (about a second per job). */
// Every metadata field given: with thinking off and nothing left open, the LM does not run (its CoT
// runs whenever a use_cot_* flag is on and some metadata is open, as upstream).
export const QUICK = {
  prompt: 'calm piano',
  lyrics: '[verse]\nla la',
  thinking: false,
  inference_steps: 2,
  audio_duration: 6,
  bpm: 90,
  key_scale: 'C major',
  time_signature: '4',
  batch_size: 1,
  audio_format: 'wav',
};

export interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers;
}

export async function call(base: string, path: string, init: RequestInit & { json?: unknown } = {}): Promise<Answer> {
  const headers = new Headers(init.headers);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(init.json);
  }
  const res = await fetch(base + path, { ...init, headers, body, method: init.method ?? (body !== undefined ? 'POST' : 'GET') });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export async function submit(base: string, fields: Record<string, unknown>, headers: Record<string, string> = {}): Promise<string> {
  const r = await call(base, '/release_task', { json: fields, headers });
  if (r.status !== 200 || r.body.code !== 200) throw new Error(`submit failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.data.task_id as string;
}

export interface Polled {
  task_id: string;
  status: number;
  result: string;
  progress_text: string;
}

export async function query(base: string, ids: string[], headers: Record<string, string> = {}): Promise<Polled[]> {
  const r = await call(base, '/query_result', { json: { task_id_list: ids }, headers });
  if (r.status !== 200) throw new Error(`query failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.data as Polled[];
}

/** Polls until every task has status 1 or 2 (or the deadline passes). */
export async function waitAll(
  base: string,
  ids: string[],
  timeoutMs: number,
  everyMs = 100,
  headers: Record<string, string> = {},
): Promise<Map<string, Polled>> {
  const end = Date.now() + timeoutMs;
  const done = new Map<string, Polled>();
  while (done.size < ids.length && Date.now() < end) {
    const pending = ids.filter((id) => !done.has(id));
    for (let i = 0; i < pending.length; i += 500) {
      for (const p of await query(base, pending.slice(i, i + 500), headers)) if (p.status === 1 || p.status === 2) done.set(p.task_id, p);
    }
    if (done.size < ids.length) await new Promise((r) => setTimeout(r, everyMs));
  }
  return done;
}

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function distStale(): boolean {
  const marker = join(ROOT, 'dist', 'src', 'server', 'server.js');
  return !existsSync(marker) || statSync(marker).mtimeMs < Math.max(newest(join(ROOT, 'src')), newest(join(ROOT, 'scripts')));
}

/**
 * The compiled CLI entry, rebuilt with tsc when src/ or scripts/ changed since the last build
 * (a clean clone has a fresh dist/ from `npm ci`). Test files running side by side take turns
 * through a lock folder so only one compiles.
 */
export function builtCli(): string {
  const entry = join(ROOT, 'dist', 'src', 'cli', 'acestep.js');
  if (!distStale()) return entry;
  const lock = join(ROOT, 'dist', '.build-lock');
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  const until = Date.now() + 300_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (Date.now() > until) throw new Error(`${lock} held for 5 minutes; remove it if no build is running`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
    }
  }
  try {
    if (distStale()) {
      const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
      const r = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], {
        cwd: ROOT,
        encoding: 'utf8',
        timeout: 240_000,
      });
      if (r.status !== 0) throw new Error(`tsc failed: ${r.stdout}${r.stderr}`);
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  return entry;
}

export interface Child {
  proc: ChildProcess;
  /** Everything the child printed so far. */
  output(): string;
  /** Resolves with the first stdout line matching `re`. */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  kill9(): Promise<void>;
}

/** Spawns `node dist/src/cli/acestep.js <args>` on the addon this process loaded. */
export function spawnCli(args: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, [builtCli(), ...args], {
    cwd: ROOT,
    env: { ...process.env, ACESTEP_ADDON: addonPath, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters: { re: RegExp; res: (m: RegExpMatchArray) => void }[] = [];
  const feed = (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) {
      const m = out.match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.res(m);
      }
    }
  };
  proc.stdout!.on('data', feed);
  proc.stderr!.on('data', feed);
  return {
    proc,
    output: () => out,
    waitFor(re, timeoutMs) {
      const m = out.match(re);
      if (m) return Promise.resolve(m);
      return new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error(`timed out waiting for ${re} in:\n${out}`)), timeoutMs);
        const onExit = (code: number | null) => rej(new Error(`process exited (${code}) before ${re}:\n${out}`));
        proc.once('exit', onExit);
        waiters.push({
          re,
          res: (mm) => {
            clearTimeout(t);
            proc.off('exit', onExit);
            res(mm);
          },
        });
      });
    },
    kill9() {
      if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
      return new Promise((res) => {
        proc.once('exit', () => res());
        proc.kill('SIGKILL');
      });
    },
  };
}
