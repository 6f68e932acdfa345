// Fuzz of the REST server's request bodies on a real server (createServer on the tiny checkpoints,
// fetch on loopback): mutated JSON for the job, LM, model and LoRA endpoints, the same fields as
// urlencoded and multipart forms, byte-damaged JSON and multipart text, wrong content types, huge
// fields, path traversal in every path field and in /v1/audio's query. Every answer must be a
// status below 500 (a soft failure is the contract's 200 envelope with code 400), JSON where the
// contract says JSON, within a second when the request is refused, and the server must still
// answer /health afterwards. Accepted jobs are cancelled at once (while the test holds the engine,
// so none computes) and the queue holds two, so the run stays bounded; job requests go four at a
// time, those that use the engine (LM, model switch, LoRA) one at a time.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type AceStepServer } from '../src/index.js';
import {
  byteMutations,
  fuzzRuns,
  type ByteMutation,
  fuzzSeed,
  jsonMutations,
  mutateBytes,
  mutateJson,
  type JsonMutation,
} from './support/fuzz.js';
import { writeAdapter } from './support/lora-adapter.js';
import { call, QUICK, submit, tinyCheckpoints, waitAll, writeTone } from './support/server.js';

let dir: string;
let server: AceStepServer;
let base: string;
let tone: string;
let adapter: string;

beforeAll(async () => {
  let ckpt: string;
  ({ dir, ckpt } = tinyCheckpoints());
  const inputs = join(dir, 'inputs');
  mkdirSync(inputs);
  tone = writeTone(join(inputs, 'tone.wav'), 4);
  adapter = join(dir, 'adapter');
  writeAdapter(adapter);
  server = await createServer({
    checkpoints: ckpt,
    device: 'cpu',
    dataDir: join(dir, 'data'),
    apiKey: null,
    queueMax: 2,
    lmMaxModelLen: 256,
    redis: null,
    audioInputDirs: [inputs],
  });
  base = await server.listen({ port: 0 });
  // One job and one LM call first, so what loads on first use is not charged to a fuzz case.
  await waitAll(base, [await submit(base, QUICK)], 60_000);
  await call(base, '/format_input', { json: { prompt: 'warm up', lyrics: 'la' } });
}, 120_000);

afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const TRAVERSAL = [
  '../../../../etc/passwd',
  '/etc/passwd',
  '/proc/self/environ',
  'a\u0000b',
  '..\\..\\windows\\win.ini',
  '%2e%2e/%2e%2e/etc/passwd',
  '....//....//etc/passwd',
  '/',
  '.',
  '',
  '~/x.wav',
  'file:///etc/passwd',
  'x'.repeat(5000),
  '/dev/zero',
  '/dev/urandom',
];

/** One seed body per endpoint: a valid request the mutations start from. */
const SEEDS: readonly { path: string; body: () => Record<string, unknown> }[] = [
  {
    path: '/release_task',
    body: () => ({
      ...QUICK,
      seed: 42,
      use_random_seed: false,
      param_obj: JSON.stringify({ lm_temperature: 0.8, shift: 3 }),
      metas: { bpm: 100, duration: 6 },
      timesteps: '0.9,0.5,0.2',
      track_classes: ['vocals'],
    }),
  },
  { path: '/release_task', body: () => ({ ...QUICK, task_type: 'cover', src_audio_path: tone, reference_audio_path: tone }) },
  { path: '/release_task', body: () => ({ ...QUICK, task_type: 'repaint', src_audio_path: tone, repainting_start: 1, repainting_end: 3 }) },
  { path: '/release_task', body: () => ({ extract_codes_only: true, src_audio_path: tone }) },
  { path: '/query_result', body: () => ({ task_id_list: ['00000000-0000-4000-8000-000000000000', 'x'] }) },
  { path: '/query_result', body: () => ({ task_id_list: JSON.stringify(['00000000-0000-4000-8000-000000000000']) }) },
  {
    path: '/format_input',
    body: () => ({ prompt: 'rock song', lyrics: 'hello', temperature: 0.5, param_obj: { bpm: 120, duration: 30 } }),
  },
  { path: '/v1/create_sample', body: () => ({ query: 'a happy song', instrumental: true, vocal_language: 'en', temperature: 0.7 }) },
  { path: '/create_random_sample', body: () => ({ sample_type: 'custom_mode' }) },
  { path: '/v1/cancel', body: () => ({ task_id: '00000000-0000-4000-8000-000000000000' }) },
  { path: '/v1/init', body: () => ({ model: 'acestep-v15-turbo', slot: 1, init_llm: false, lm_model_path: 'acestep-5Hz-lm-0.6B' }) },
  { path: '/v1/lora/load', body: () => ({ lora_path: adapter, adapter_name: 'a' }) },
  { path: '/v1/lora/toggle', body: () => ({ use_lora: true, adapter_name: 'a' }) },
  { path: '/v1/lora/scale', body: () => ({ scale: 0.5, adapter_name: 'a' }) },
  { path: '/v1/lora/unload', body: () => ({ adapter_name: 'a' }) },
  { path: '/v1/lora/status', body: () => ({}) },
];

const KEYS = [
  'prompt',
  'lyrics',
  'task_type',
  'audio_duration',
  'inference_steps',
  'seed',
  'batch_size',
  'src_audio_path',
  'reference_audio_path',
  'lora_path',
  'task_id',
  'task_id_list',
  'param_obj',
  'metas',
  'temperature',
  'scale',
  'use_lora',
  'model',
  'slot',
  'init_llm',
  'query',
  'timesteps',
  'audio_code_string',
];
const PATH_FIELDS = ['src_audio_path', 'reference_audio_path', 'lora_path', 'lm_model_path', 'model', 'task_id', 'adapter_name'];

type Encoding = 'json' | 'form' | 'multipart' | 'jsonBytes' | 'multipartBytes' | 'contentType' | 'none';

interface Case {
  seed: number;
  muts: JsonMutation[];
  traversal: { field: number; value: number } | null;
  huge: { field: number; size: number } | null;
  encoding: Encoding;
  bytes: ByteMutation[];
  contentType: string;
}

/** `arb` one time in `n`, else null. */
const sometimes = <T>(n: number, arb: fc.Arbitrary<T>) =>
  fc.oneof({ weight: n - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });

/** Endpoints that hold the engine (LM calls, model switches, adapters) are fuzzed one request at a time. */
const ENGINE_PATHS = new Set([
  '/format_input',
  '/v1/create_sample',
  '/v1/init',
  '/v1/lora/load',
  '/v1/lora/toggle',
  '/v1/lora/scale',
  '/v1/lora/unload',
  '/v1/lora/status',
]);
const seedsWhere = (engine: boolean) => SEEDS.flatMap((sd, i) => (ENGINE_PATHS.has(sd.path) === engine ? [i] : []));

const caseArb = (seeds: number[]): fc.Arbitrary<Case> =>
  fc.record({
    seed: fc.constantFrom(...seeds),
    muts: jsonMutations(KEYS),
    traversal: sometimes(3, fc.record({ field: fc.nat(PATH_FIELDS.length - 1), value: fc.nat(TRAVERSAL.length - 1) })),
    huge: sometimes(12, fc.record({ field: fc.nat(KEYS.length - 1), size: fc.constantFrom(1 << 16, 1 << 20, 5 << 20) })),
    encoding: fc.constantFrom<Encoding>('json', 'json', 'json', 'form', 'multipart', 'jsonBytes', 'multipartBytes', 'contentType', 'none'),
    bytes: byteMutations(64),
    contentType: fc.constantFrom(
      'text/plain',
      'application/xml',
      'application/json; charset=utf-16',
      'multipart/form-data',
      'multipart/form-data; boundary=',
      'application/x-www-form-urlencoded; charset=latin1',
      'application/vnd.x+json',
      'application/octet-stream',
      '*/*',
      'application/json, text/plain',
    ),
  });

const text = (v: unknown) => (typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v)));
const utf8 = new TextEncoder();
const utf8Lossy = new TextDecoder();

function multipartText(fields: Record<string, unknown>, boundary: string): string {
  let s = '';
  for (const [k, v] of Object.entries(fields)) s += `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${text(v)}\r\n`;
  s += `--${boundary}\r\nContent-Disposition: form-data; name="src_audio"; filename="../../x.wav"\r\nContent-Type: audio/wav\r\n\r\nRIFF....WAVE\r\n`;
  return `${s}--${boundary}--\r\n`;
}

/** The request a case stands for. */
function request(c: Case): { path: string; init: RequestInit } {
  const seed = SEEDS[c.seed];
  let doc = mutateJson(seed.body(), c.muts);
  if (doc && typeof doc === 'object' && !Array.isArray(doc)) {
    const o = doc as Record<string, unknown>;
    if (c.traversal) o[PATH_FIELDS[c.traversal.field]] = TRAVERSAL[c.traversal.value];
    if (c.huge) o[KEYS[c.huge.field]] = 'x'.repeat(c.huge.size);
    doc = o;
  }
  const json = JSON.stringify(doc) ?? 'null';
  const fields = doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : { value: doc };
  const post = (body: BodyInit, contentType?: string): RequestInit => ({
    method: 'POST',
    body,
    headers: contentType === undefined ? {} : { 'content-type': contentType },
  });
  switch (c.encoding) {
    case 'json':
      return { path: seed.path, init: post(json, 'application/json') };
    case 'form':
      return {
        path: seed.path,
        init: post(
          new URLSearchParams(Object.entries(fields).map(([k, v]) => [k, text(v)])).toString(),
          'application/x-www-form-urlencoded',
        ),
      };
    case 'multipart': {
      const form = new FormData();
      for (const [k, v] of Object.entries(fields)) form.append(k, text(v));
      if (seed.path === '/release_task') form.append('src_audio', new Blob([utf8.encode('RIFF not really a wave')]), '../../evil.wav');
      return { path: seed.path, init: { method: 'POST', body: form } };
    }
    case 'jsonBytes':
      return { path: seed.path, init: post(utf8Lossy.decode(mutateBytes(utf8.encode(json), c.bytes)), 'application/json') };
    case 'multipartBytes':
      return {
        path: seed.path,
        init: post(
          Uint8Array.from(mutateBytes(utf8.encode(multipartText(fields, 'b0und')), c.bytes)),
          'multipart/form-data; boundary=b0und',
        ),
      };
    case 'contentType':
      return { path: seed.path, init: post(json, c.contentType) };
    case 'none':
      return { path: seed.path, init: { method: 'POST', body: new Blob([json]) } };
  }
}

interface Result {
  /** Request body size in bytes. */
  size: number;
  status: number;
  body: unknown;
  raw: string;
  ms: number;
}

async function send(path: string, init: RequestInit): Promise<Result> {
  const t0 = performance.now();
  const res = await fetch(base + path, { ...init, signal: AbortSignal.timeout(60_000) });
  const raw = await res.text();
  const ms = performance.now() - t0;
  const b = init.body;
  const size = typeof b === 'string' ? Buffer.byteLength(b) : b instanceof Uint8Array ? b.length : b instanceof Blob ? b.size : 0;
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    body = undefined;
  }
  return { size: size || bodySize(init), status: res.status, body, raw, ms };
}

interface Tally {
  started: number;
  cases: number;
  ok: number;
  soft: number;
  refused: Record<number, number>;
  accepted: number;
  slowestRefusalMs: number;
  slowestMs: number;
}

/** Bytes of a FormData body (its string values; the small upload part aside). */
function bodySize(init: RequestInit): number {
  if (!(init.body instanceof FormData)) return 0;
  let n = 0;
  for (const [, v] of init.body) n += typeof v === 'string' ? Buffer.byteLength(v) : v.size;
  return n;
}

/**
 * How long a refusal may take: a second, plus a quarter second per MiB of body for the transfer
 * itself (the 4 MiB limit is tested with 5 MiB bodies on a loaded 2-core machine).
 */
const refusalLimitMs = (r: Result) => 1000 + (250 * r.size) / (1 << 20);

/** The property of one answer; a string names the finding. */
function verdict(path: string, r: Result, t: Tally): string | null {
  t.cases++;
  t.slowestMs = Math.max(t.slowestMs, r.ms);
  if (r.status >= 500) return `status ${r.status}: ${r.raw.slice(0, 500)}`;
  if (r.body === undefined) return `status ${r.status}, not JSON: ${r.raw.slice(0, 200)}`;
  const b = r.body as { code?: number; detail?: unknown; data?: unknown };
  if (r.status >= 400) {
    if (typeof b.detail !== 'string') return `status ${r.status} without a {detail} string: ${r.raw.slice(0, 200)}`;
    t.refused[r.status] = (t.refused[r.status] ?? 0) + 1;
    t.slowestRefusalMs = Math.max(t.slowestRefusalMs, r.ms);
    if (r.ms > refusalLimitMs(r)) return `refusal took ${r.ms.toFixed(0)} ms (${r.size} bytes)`;
    return null;
  }
  if (r.status !== 200) return `status ${r.status}`;
  if (path !== '/v1/models' && typeof b.code !== 'number') return `200 without the envelope: ${r.raw.slice(0, 200)}`;
  if (b.code === 400) {
    t.soft++;
    t.slowestRefusalMs = Math.max(t.slowestRefusalMs, r.ms);
    if (r.ms > refusalLimitMs(r)) return `soft refusal took ${r.ms.toFixed(0)} ms (${r.size} bytes)`;
  } else if (b.code === 200) t.ok++;
  else return `envelope code ${b.code}: ${r.raw.slice(0, 500)}`;
  return null;
}

/** Task ids of accepted jobs (each cancelled at once). */
const accepted: string[] = [];

/** Runs `cases` `concurrency` at a time; an accepted job is cancelled at once. Returns the first finding with its case. */
async function runAll<T>(
  cases: T[],
  toRequest: (c: T) => { path: string; init: RequestInit },
  t: Tally,
  concurrency: number,
): Promise<string | null> {
  let next = 0;
  let finding: string | null = null;
  const worker = async () => {
    while (finding === null && next < cases.length) {
      const i = next++;
      const { path, init } = toRequest(cases[i]);
      let r: Result;
      try {
        r = await send(path, init);
      } catch (e) {
        finding = `case ${i} (${path}): request failed: ${(e as Error).message}`;
        return;
      }
      const v = verdict(path, r, t);
      if (v !== null) {
        finding = `case ${i} (${path}, ${String(init.headers && JSON.stringify(init.headers))}): ${v}\nrequest: ${JSON.stringify(cases[i]).slice(0, 1500)}`;
        return;
      }
      const id = (r.body as { data?: { task_id?: unknown } }).data?.task_id;
      if (path === '/release_task' && r.status === 200 && typeof id === 'string') {
        t.accepted++;
        accepted.push(id);
        await send('/v1/cancel', {
          method: 'POST',
          body: JSON.stringify({ task_id: id }),
          headers: { 'content-type': 'application/json' },
        });
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return finding;
}

const newTally = (): Tally => ({
  started: performance.now(),
  cases: 0,
  ok: 0,
  soft: 0,
  refused: {},
  accepted: 0,
  slowestRefusalMs: 0,
  slowestMs: 0,
});
const logTally = (name: string, t: Tally) =>
  console.log(
    `fuzz server ${name}: ${t.cases} requests, ${t.ok} ok (${t.accepted} jobs accepted and cancelled), ${t.soft} soft 400, refused ${JSON.stringify(t.refused)}, slowest refusal ${t.slowestRefusalMs.toFixed(0)} ms, slowest ${t.slowestMs.toFixed(0)} ms, ${((performance.now() - t.started) / 1000).toFixed(1)} s in all`,
  );

describe('REST request bodies under mutation', () => {
  it('job endpoints: mutated bodies in every encoding, four at a time', async () => {
    const seed = fuzzSeed(1780);
    const cases = fc.sample(caseArb(seedsWhere(false)), { numRuns: fuzzRuns(2000), seed });
    const t = newTally();
    // The engine is held meanwhile: an accepted job waits for it and is cancelled before it computes,
    // so refusal times measure the request path rather than generations running beside it.
    let release = () => {};
    const held = server.host!.exclusive(() => new Promise<void>((r) => (release = r)));
    let finding: string | null;
    try {
      finding = await runAll(cases, request, t, 4);
    } finally {
      release();
      await held;
    }
    logTally('job bodies', t);
    expect(finding, `seed ${seed}`).toBeNull();
    expect(t.cases).toBe(cases.length);
    expect(t.accepted).toBeGreaterThan(0);
    // Every accepted job ends (cancelled), so the engine is free for the next target.
    const ended = await waitAll(base, accepted, 60_000);
    expect(ended.size).toBe(accepted.length);
    expect((await send('/health', {})).status).toBe(200);
  }, 120_000);

  it('LM, model and LoRA endpoints: mutated bodies, one at a time', async () => {
    const seed = fuzzSeed(1782);
    const cases = fc.sample(caseArb(seedsWhere(true)), { numRuns: fuzzRuns(300), seed });
    const t = newTally();
    const finding = await runAll(cases, request, t, 1);
    logTally('engine bodies', t);
    expect(finding, `seed ${seed}`).toBeNull();
    expect(t.cases).toBe(cases.length);
    expect((await send('/health', {})).status).toBe(200);
  }, 120_000);

  it('/v1/audio query strings and GET endpoints', async () => {
    const seed = fuzzSeed(1781);
    const queryArb = fc.oneof(
      fc.constantFrom(...TRAVERSAL).map((p) => `path=${encodeURIComponent(p)}`),
      fc.string({ unit: 'binary', maxLength: 40 }).map((p) => `path=${encodeURIComponent(p)}`),
      fc.string({ maxLength: 40 }).map((q) => encodeURI(q)), // query text as typed
      fc.constantFrom('path', 'path=', 'path=%', 'path=%zz', 'path[]=a&path[]=b', 'path=a&path=b', `path=${'%2e'.repeat(3000)}`),
      fc.nat(TRAVERSAL.length - 1).map((i) => `path=${encodeURIComponent(join(dir, 'data', TRAVERSAL[i]))}`),
    );
    const pathArb = fc.oneof(
      { weight: 4, arbitrary: queryArb.map((q) => `/v1/audio?${q}`) },
      { weight: 1, arbitrary: fc.constantFrom('/v1/lora/status', '/v1/model_inventory', '/v1/stats', '/health') },
    );
    const cases = fc.sample(pathArb, { numRuns: fuzzRuns(800), seed });
    const t = newTally();
    const finding = await runAll(cases, (path) => ({ path, init: { method: 'GET' } }), t, 4);
    logTally('GET', t);
    expect(finding, `seed ${seed}`).toBeNull();
    expect((await send('/health', {})).status).toBe(200);
  }, 60_000);

  it("a query or caption longer than the LM context is the caller's error (found by the fuzzer: it answered code 500)", async () => {
    const long = 'a long song about the sea '.repeat(400);
    const sample = await send('/v1/create_sample', {
      method: 'POST',
      body: JSON.stringify({ query: long }),
      headers: { 'content-type': 'application/json' },
    });
    expect(sample.status).toBe(400);
    expect((sample.body as { detail: string }).detail).toMatch(
      /prompt: the input takes more than \d+ tokens: it does not fit the LM's context of 256/,
    );
    const format = await send('/format_input', {
      method: 'POST',
      body: JSON.stringify({ prompt: long, lyrics: 'la' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(format.status).toBe(200);
    expect(format.body).toMatchObject({ code: 400, data: null });
    expect((format.body as { error: string }).error).toMatch(/does not fit the LM's context of 256/);
  });
});
