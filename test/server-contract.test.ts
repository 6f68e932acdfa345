// The REST server on loopback with a real HTTP client (fetch), on the tiny checkpoints: one
// contract test per endpoint (envelope, both error styles, field aliases and lookup order), the
// request flows of upstream's studio.html and of ACE-Step-DAW, cancel, progress and SSE, auth,
// CORS, path confinement, retention, and a corpus of malformed requests answered 4xx while the
// process stays alive.
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, TASK_TYPES, type AceStepServer } from '../src/index.js';
import { decodeAudio } from '../src/io/audio/index.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { call, query, QUICK, submit, tinyCheckpoints, waitAll, writeTone } from './support/server.js';

let dir: string;
let ckpt: string;
let server: AceStepServer;
let base: string;
let keyed: AceStepServer;
let keyedBase: string;
const KEY = 'sekrit-key-123';

beforeAll(async () => {
  ({ dir, ckpt } = tinyCheckpoints());
  server = await createServer({
    checkpoints: ckpt,
    device: 'cpu',
    dataDir: join(dir, 'data'),
    apiKey: null,
    queueMax: 20,
    lmMaxModelLen: 512,
    redis: null,
  });
  base = await server.listen({ port: 0 });
  // A second server shares nothing but the checkpoints: it checks the API key.
  keyed = await createServer({
    checkpoints: ckpt,
    device: 'cpu',
    dataDir: join(dir, 'keyed'),
    apiKey: KEY,
    queueMax: 5,
    lmMaxModelLen: 1024,
    redis: null,
  });
  keyedBase = await keyed.listen({ port: 0 });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await keyed?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const item0 = (p: { result: string }) => JSON.parse(p.result)[0];

describe('envelope and the job endpoints', () => {
  it('/release_task answers the envelope with a UUID task id; /query_result gives status 1 with a result JSON string', async () => {
    const r = await call(base, '/release_task', { json: { ...QUICK, seed: 42, use_random_seed: false } });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(['code', 'data', 'error', 'extra', 'timestamp']);
    expect(r.body.code).toBe(200);
    expect(r.body.error).toBeNull();
    expect(Math.abs(r.body.timestamp - Date.now())).toBeLessThan(10_000);
    expect(r.body.data.task_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(r.body.data.status).toBe('queued');
    expect(r.body.data.queue_position).toBeGreaterThanOrEqual(1);
    const done = await waitAll(base, [r.body.data.task_id], 60_000);
    const p = done.get(r.body.data.task_id)!;
    expect(p.status).toBe(1);
    expect(typeof p.result).toBe('string');
    const items = JSON.parse(p.result);
    expect(items).toHaveLength(1);
    const it0 = items[0];
    expect(it0.status).toBe(1);
    expect(it0.stage).toBe('succeeded');
    expect(it0.progress).toBe(1);
    expect(it0.error).toBeNull();
    expect(it0.seed_value).toBe('42');
    expect(it0.dit_model).toBe('acestep-v15-turbo');
    expect(it0.file).toMatch(/^\/v1\/audio\?path=%2F.+\.wav$/);
    expect(it0.metas.prompt).toBe('calm piano');
    expect(it0.metas.duration).toBe(6);
    expect(Object.keys(it0)).toEqual(
      expect.arrayContaining(['file', 'wave', 'create_time', 'env', 'prompt', 'lyrics', 'metas', 'generation_info', 'lm_model']),
    );
    // The audio: a 6 s stereo WAV at the tiny VAE's 200 Hz.
    const audio = await fetch(base + it0.file);
    expect(audio.status).toBe(200);
    expect(audio.headers.get('content-type')).toBe('audio/wav');
    const pcm = await decodeAudio(new Uint8Array(await audio.arrayBuffer()), 'x.wav');
    expect(pcm.channels).toHaveLength(2);
    expect(pcm.channels[0].length).toBe(6 * 200);
  }, 90_000);

  it('an unknown task id reads status 0 with result "[]"', async () => {
    const [p] = await query(base, ['00000000-0000-4000-8000-000000000000']);
    expect(p.status).toBe(0);
    expect(p.result).toBe('[]');
  });

  it('task_id_list may be a JSON string, in urlencoded and multipart forms too', async () => {
    const id = await submit(base, QUICK);
    const r = await call(base, '/query_result', {
      body: new URLSearchParams({ task_id_list: JSON.stringify([id]) }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(r.status).toBe(200);
    expect(r.body.data[0].task_id).toBe(id);
    const form = new FormData();
    form.append('task_id_list', JSON.stringify([id]));
    const m = await call(base, '/query_result', { method: 'POST', body: form });
    expect(m.body.data.map((d: { task_id: string }) => d.task_id)).toEqual([id]);
    expect(await waitAll(base, [id], 60_000)).toHaveProperty('size', 1);
  }, 90_000);

  it('lookup order: top level, then param_obj (JSON string), then metas; aliases and "yes" booleans', async () => {
    const id = await submit(base, {
      caption: 'top-level caption',
      param_obj: JSON.stringify({
        prompt: 'ignored: top level wins',
        inferenceSteps: 2,
        batchSize: 1,
        audioDuration: 6,
        audio_format: 'wav',
      }),
      metas: { bpm: 97, keyscale: 'D minor', timeSignature: '3' },
      thinking: 'no',
      use_random_seed: 'off',
      seed: '5,6',
    });
    const p = (await waitAll(base, [id], 60_000)).get(id)!;
    expect(p.status).toBe(1);
    const it0 = item0(p);
    expect(it0.metas.prompt).toBe('top-level caption');
    expect(it0.metas.bpm).toBe(97);
    expect(it0.metas.keyscale).toBe('D minor');
    expect(it0.metas.timesignature).toBe('3');
    expect(it0.seed_value).toBe('5');
    expect(it0.metas.duration).toBe(6);
  }, 90_000);

  it('a bad field answers 400 naming the REST field; the queue is untouched', async () => {
    const before = (await call(base, '/v1/stats')).body.data.jobs.total;
    for (const [fields, name] of [
      [{ inference_steps: 'many' }, 'inference_steps'],
      [{ bpm: 'fast' }, 'bpm'],
      [{ audio_format: 'opus' }, 'audio_format'],
      [{ batch_size: 99 }, 'batch_size'],
      [{ guidance_scale: 1000 }, 'guidance_scale'],
      [{ task_type: 'remix' }, 'task_type'],
      [{ thinking: 'perhaps' }, 'thinking'],
      [{ key_scale: 'H major' }, 'key_scale'],
    ] as const) {
      const r = await call(base, '/release_task', { json: fields });
      expect(r.status, JSON.stringify(fields)).toBe(400);
      expect(r.body.detail).toMatch(new RegExp(`^${name}:`));
    }
    expect((await call(base, '/v1/stats')).body.data.jobs.total).toBe(before);
  });

  it('cancel: a queued job and a running job both read failed with error "cancelled"; progress and stage move', async () => {
    // A long job (200 DiT steps on the base model config is not loaded, so many steps on turbo's limit: duration 240 s)
    const long = await submit(base, { ...QUICK, audio_duration: 600, inference_steps: 8 });
    const queued = await submit(base, QUICK);
    let running: { progress: number; stage: string } | null = null;
    for (let i = 0; i < 400 && !running; i++) {
      const [p] = await query(base, [long]);
      const it0 = item0(p);
      if (it0.stage === 'diffusion' && it0.progress > 0) running = it0;
      else await new Promise((r) => setTimeout(r, 20));
    }
    expect(running).not.toBeNull();
    expect(running!.progress).toBeGreaterThan(0);
    expect(running!.progress).toBeLessThan(1);
    const waiting = item0((await query(base, [queued]))[0]);
    expect(waiting).toMatchObject({ status: 0, stage: 'queued', queue_position: 1, progress: 0 });
    const c1 = await call(base, '/v1/cancel', { json: { task_id: queued } });
    expect(c1.body.data.status).toBe('cancelled');
    const c2 = await call(base, '/v1/cancel', { json: { task_id: long } });
    expect(c2.body.data.status).toBe('cancelling');
    const done = await waitAll(base, [long, queued], 60_000);
    for (const id of [long, queued]) {
      const p = done.get(id)!;
      expect(p.status).toBe(2);
      expect(item0(p).error).toBe('cancelled');
    }
    expect((await call(base, '/v1/cancel', { json: { task_id: long } })).body.data.status).toBe('finished');
    expect((await call(base, '/v1/cancel', { json: { task_id: '00000000-0000-4000-8000-000000000000' } })).status).toBe(404);
  }, 120_000);

  it('GET /v1/jobs/:id/events streams progress events and ends with done', async () => {
    const id = await submit(base, { ...QUICK, inference_steps: 8 });
    const res = await fetch(`${base}/v1/jobs/${id}/events`);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const text = await res.text();
    const events = [...text.matchAll(/event: (\w+)\ndata: (.*)\n\n/g)].map((m) => ({ type: m[1], data: JSON.parse(m[2]) }));
    expect(events.at(-1)!.type).toBe('done');
    expect(events.at(-1)!.data.status).toBe(1);
    expect(events.at(-1)!.data.result[0].file).toMatch(/^\/v1\/audio/);
    const progress = events.filter((e) => e.type === 'progress').map((e) => e.data.progress as number);
    expect(progress.length).toBeGreaterThanOrEqual(1);
    for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThanOrEqual(progress[i - 1]);
    expect((await fetch(`${base}/v1/jobs/nope/events`)).status).toBe(404);
  }, 90_000);
});

describe('other endpoints', () => {
  it('/health is open and says what is loaded', async () => {
    const r = await call(keyedBase, '/health');
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({
      status: 'ok',
      service: 'ACE-Step API',
      version: '1.0',
      models_initialized: true,
      loaded_model: 'acestep-v15-turbo',
    });
  });

  it('/v1/stats counts jobs', async () => {
    const r = await call(base, '/v1/stats');
    const s = r.body.data;
    expect(Object.keys(s.jobs).sort()).toEqual(['failed', 'queued', 'running', 'succeeded', 'total']);
    expect(s.jobs.total).toBe(s.jobs.queued + s.jobs.running + s.jobs.succeeded + s.jobs.failed);
    expect(s.jobs.succeeded).toBeGreaterThanOrEqual(1);
    expect(s.queue_maxsize).toBe(20);
    expect(s.avg_job_seconds).toBeGreaterThan(0);
  });

  it('/v1/models (OpenRouter list) and /v1/model_inventory', async () => {
    const m = await call(base, '/v1/models');
    expect(m.body.object).toBe('list');
    expect(m.body.data.map((d: { id: string }) => d.id)).toEqual(['acestep/acestep-v15-turbo', 'acestep/acestep-v15-base']);
    expect(m.body.data[0].output_modalities).toContain('audio');
    const inv = (await call(base, '/v1/model_inventory')).body.data;
    expect(inv.default_model).toBe('acestep-v15-turbo');
    // Upstream's model zoo: only base does extract, lego and complete.
    expect(inv.models).toEqual([
      {
        name: 'acestep-v15-turbo',
        is_default: true,
        is_loaded: true,
        supported_task_types: ['text2music', 'repaint', 'cover', 'cover-nofsq'],
      },
      {
        name: 'acestep-v15-base',
        is_default: false,
        is_loaded: false,
        supported_task_types: ['text2music', 'repaint', 'cover', 'cover-nofsq', 'extract', 'lego', 'complete'],
      },
    ]);
    expect([...TASK_TYPES].sort()).toEqual([...inv.models[1].supported_task_types].sort());
    expect(inv.lm_models).toEqual([{ name: 'acestep-5Hz-lm-0.6B', is_loaded: false }]);
  });

  it('/format_input and /v1/create_sample run the LM; /create_random_sample answers both shapes', async () => {
    const f = await call(base, '/format_input', {
      json: { prompt: 'rock song', lyrics: 'hello world', temperature: 0.5, param_obj: { bpm: 120, duration: 30 } },
    });
    expect(f.status).toBe(200);
    expect(f.body.code).toBe(200);
    expect(Object.keys(f.body.data).sort()).toEqual([
      'bpm',
      'caption',
      'duration',
      'key_scale',
      'lyrics',
      'time_signature',
      'vocal_language',
    ]);
    expect(f.body.data.bpm).toBe(120);
    const s = await call(base, '/v1/create_sample', { json: { query: 'a happy song', instrumental: true } });
    expect(s.body.code).toBe(200);
    expect(Object.keys(s.body.data)).toEqual(
      expect.arrayContaining(['caption', 'lyrics', 'bpm', 'keyscale', 'duration', 'timesignature', 'vocal_language']),
    );
    const simple = await call(base, '/create_random_sample', { json: { sample_type: 'simple_mode' } });
    expect(Object.keys(simple.body.data).sort()).toEqual(['description', 'instrumental', 'vocal_language']);
    const custom = await call(base, '/create_random_sample', { json: { sample_type: 'custom_mode' } });
    expect(Object.keys(custom.body.data).sort()).toEqual([
      'bpm',
      'caption',
      'duration',
      'keyscale',
      'language',
      'lyrics',
      'think',
      'timesignature',
    ]);
    expect((await call(base, '/format_input', { json: { prompt: 'x', temperature: 9 } })).body).toMatchObject({ code: 400, data: null });
  }, 90_000);

  it('a sample_mode job runs the LM first: the result caption comes from the LM, metas keep what was sent', async () => {
    // (use_format takes the same path through formatSample, covered by /format_input above.)
    const sampled = await submit(base, {
      ...QUICK,
      prompt: '',
      sample_mode: true,
      sample_query: 'a sunny ukulele tune',
      lm_temperature: 0.7,
    });
    const p = (await waitAll(base, [sampled], 120_000, 250)).get(sampled)!;
    expect(p.status, p.result).toBe(1);
    const s = item0(p);
    expect(s.metas.prompt).toBe('');
    expect(s.prompt.length).toBeGreaterThan(0);
  }, 150_000);

  it('extract_codes_only and full_analysis_only read the source instead of generating', async () => {
    const src = readFileSync(writeTone(join(dir, 'analyse.wav'), 6));
    const job = async (flag: string) => {
      const form = new FormData();
      form.append(flag, 'true');
      form.append('src_audio', new Blob([src]), 'song.wav');
      const r = await call(base, '/release_task', { method: 'POST', body: form });
      expect(r.status).toBe(200);
      const p = (await waitAll(base, [r.body.data.task_id], 120_000, 250)).get(r.body.data.task_id)!;
      expect(p.status, p.result).toBe(1);
      const items = JSON.parse(p.result);
      expect(items).toHaveLength(1);
      return items[0];
    };
    const codes = await job('extract_codes_only');
    expect(codes.file).toBe('');
    // 6 s at the 5 Hz code rate.
    expect(codes.audio_codes.match(/<\|audio_code_\d+\|>/g)).toHaveLength(30);
    const a = await job('full_analysis_only');
    expect(a.file).toBe('');
    expect(a.audio_codes).toBe(codes.audio_codes);
    for (const k of ['bpm', 'keyscale', 'timesignature', 'duration', 'genre', 'language']) expect(a, k).toHaveProperty(k);
    expect(a.metas).toHaveProperty('bpm');
    expect((await call(base, '/release_task', { json: { full_analysis_only: true } })).body.detail).toMatch(
      /^src_audio_path: analysis needs a source audio/,
    );
  }, 150_000);

  it('/v1/init: wrapped 400 for a bad slot or model; switching the DiT and loading the LM', async () => {
    expect((await call(base, '/v1/init', { json: { slot: 7 } })).body).toMatchObject({ code: 400, data: null });
    expect((await call(base, '/v1/init', { json: { model: 'nope' } })).body.code).toBe(400);
    const r = await call(base, '/v1/init', { json: { model: 'acestep-v15-base', init_llm: true } });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({
      slot: 1,
      loaded_model: 'acestep-v15-base',
      loaded_lm_model: 'acestep-5Hz-lm-0.6B',
      llm_initialized: true,
    });
    expect((await call(base, '/health')).body.data.loaded_model).toBe('acestep-v15-base');
    const back = await call(base, '/v1/init', { json: { model: 'acestep-v15-turbo' } });
    expect(back.body.data.loaded_model).toBe('acestep-v15-turbo');
  }, 90_000);

  it('/v1/lora/*: load, toggle, scale, unload change what the next job generates; errors are wrapped', async () => {
    const st = await call(base, '/v1/lora/status');
    expect(st.body.data).toMatchObject({ lora_loaded: false, use_lora: false, active_adapter: null, adapters: [] });
    expect((await call(base, '/v1/lora/toggle', { json: { use_lora: true } })).body).toMatchObject({ code: 400, data: null });
    expect((await call(base, '/v1/lora/scale', { json: { scale: 2 } })).body.code).toBe(400);
    expect((await call(base, '/v1/lora/load', { json: { lora_path: join(dir, 'missing-adapter') } })).body.code).toBe(400);

    // A rank-2 PEFT adapter on the self-attention q/v projections of the tiny DiT (hidden 64, kv 32).
    const adapter = join(dir, 'style-lora');
    mkdirSync(adapter, { recursive: true });
    writeFileSync(
      join(adapter, 'adapter_config.json'),
      JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['q_proj', 'v_proj'] }),
    );
    const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
    const cosines = (shape: number[], phase: number) => ({
      dtype: 'F32' as const,
      shape,
      data: Float32Array.from({ length: shape[0] * shape[1] }, (_, i) => 0.4 * Math.cos(0.7 * i + phase)),
    });
    for (let layer = 0; layer < 4; layer++) {
      for (const [proj, out] of [
        ['q_proj', 64],
        ['v_proj', 32],
      ] as const) {
        tensors[`base_model.model.layers.${layer}.self_attn.${proj}.lora_A.weight`] = cosines([2, 64], layer);
        tensors[`base_model.model.layers.${layer}.self_attn.${proj}.lora_B.weight`] = cosines([out, 2], layer + 0.5);
      }
    }
    writeSafetensors(join(adapter, 'adapter_model.safetensors'), tensors);

    const render = async () => {
      const id = await submit(base, { ...QUICK, seed: 7, use_random_seed: false, audio_format: 'wav' });
      const p = (await waitAll(base, [id], 60_000)).get(id)!;
      expect(p.status).toBe(1);
      return Buffer.from(await (await fetch(base + item0(p).file)).arrayBuffer());
    };
    const plain = await render();
    const loaded = await call(base, '/v1/lora/load', { json: { lora_path: adapter, adapter_name: 'style' } });
    expect(loaded.body.data).toMatchObject({
      lora_loaded: true,
      use_lora: true,
      active_adapter: 'style',
      adapters: ['style'],
      lora_scale: 1,
      adapter_type: 'lora',
    });
    const styled = await render();
    expect(styled.equals(plain)).toBe(false);
    expect((await call(base, '/v1/lora/toggle', { json: { use_lora: false } })).body.data).toMatchObject({
      use_lora: false,
      active_adapter: null,
    });
    expect((await render()).equals(plain)).toBe(true);
    expect((await call(base, '/v1/lora/toggle', { json: { use_lora: 'true' } })).body.data.active_adapter).toBe('style');
    expect((await render()).equals(styled)).toBe(true);
    expect((await call(base, '/v1/lora/scale', { json: { scale: 0, adapter_name: 'style' } })).body.data.scales).toEqual({ style: 0 });
    expect((await render()).equals(plain)).toBe(true);
    expect((await call(base, '/v1/lora/unload', { json: { adapter_name: 'style' } })).body.data).toMatchObject({
      lora_loaded: false,
      adapters: [],
    });
  }, 120_000);

  it('/v1/chat/completions: audio as a base64 data URL, and as an SSE stream', async () => {
    const r = await call(base, '/v1/chat/completions', {
      json: {
        messages: [{ role: 'user', content: 'a calm piano piece' }],
        inference_steps: 2,
        audio_duration: 6,
        audio_format: 'wav',
        thinking: false,
      },
    });
    expect(r.status).toBe(200);
    expect(r.body.object).toBe('chat.completion');
    const audio = r.body.choices[0].message.audio[0].audio_url.url as string;
    expect(audio.startsWith('data:audio/wav;base64,')).toBe(true);
    const pcm = await decodeAudio(new Uint8Array(Buffer.from(audio.split(',')[1], 'base64')), 'x.wav');
    expect(pcm.channels[0].length).toBe(1200);
    const s = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        stream: true,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'drums' }] }],
        inference_steps: 2,
        audio_duration: 6,
        audio_format: 'wav',
        thinking: false,
      }),
    });
    const text = await s.text();
    const chunks = text
      .split('\n\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => l.slice(6));
    expect(chunks.at(-1)).toBe('[DONE]');
    const last = JSON.parse(chunks.at(-2)!);
    expect(last.choices[0].finish_reason).toBe('stop');
    expect(last.choices[0].delta.audio[0].audio_url.url).toMatch(/^data:audio\/wav;base64,/);
  }, 90_000);
});

describe('client flows', () => {
  it('upstream studio.html: JSON submit, poll every 1.5 s, JSON.parse(result)[0].file, fetch the audio', async () => {
    const sub = await call(base, '/release_task', {
      json: {
        prompt: 'lofi beat',
        lyrics: '[inst]',
        audio_duration: 6,
        inference_steps: 2,
        batch_size: 2,
        audio_format: 'wav',
        thinking: false,
      },
      headers: { origin: 'null' },
    });
    expect(sub.body.code === 200 && sub.body.data.task_id).toBeTruthy();
    expect(sub.headers.get('access-control-allow-origin')).toBe('null');
    const id = sub.body.data.task_id;
    let final: { status: number; result: string; progress_text: string } | null = null;
    for (let i = 0; i < 40 && !final; i++) {
      await new Promise((r) => setTimeout(r, 1500));
      const r = await call(base, '/query_result', { json: { task_id_list: [id] } });
      const d = r.body.data[0];
      expect(typeof d.progress_text).toBe('string');
      if (d.status === 1 || d.status === 2) final = d;
    }
    expect(final!.status).toBe(1);
    const items = JSON.parse(final!.result);
    expect(items).toHaveLength(2);
    for (const it0 of items) {
      expect(it0.prompt).toBeTypeOf('string');
      expect(it0.metas).toHaveProperty('bpm');
      expect(it0.metas).toHaveProperty('keyscale');
      const a = await fetch(base + it0.file);
      expect(a.status).toBe(200);
      expect((await a.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    }
  }, 120_000);

  it('ACE-Step-DAW: health, model_inventory, init, stats, multipart lego with src_audio, poll, fetch wav', async () => {
    const auth = { authorization: `Bearer ${KEY}` };
    expect((await fetch(`${keyedBase}/health`)).ok).toBe(true);
    expect((await call(keyedBase, '/v1/model_inventory', { headers: auth })).body.data.default_model).toBe('acestep-v15-turbo');
    expect((await call(keyedBase, '/v1/init', { json: { model: 'acestep-v15-turbo' }, headers: auth })).body.code).toBe(200);
    expect((await call(keyedBase, '/v1/stats', { headers: auth })).status).toBe(200);
    const form = new FormData();
    const fields: Record<string, string> = {
      task_type: 'lego',
      track_name: 'drums',
      prompt: 'tight drums',
      lyrics: '',
      instruction: '',
      repainting_start: '0',
      repainting_end: '-1',
      audio_duration: '6',
      bpm: '120',
      key_scale: 'C major',
      time_signature: '4',
      inference_steps: '2',
      guidance_scale: '7',
      shift: '3',
      batch_size: '1',
      audio_format: 'wav',
      thinking: 'false',
      model: 'acestep-v15-turbo',
      sample_mode: 'false',
      sample_query: '',
      use_cot_caption: 'false',
      ai_token: KEY,
    };
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    form.append('src_audio', new Blob([readFileSync(writeTone(join(dir, 'daw-src.wav'), 6))], { type: 'audio/wav' }), 'stem.wav');
    const sub = await call(keyedBase, '/release_task', { body: form, method: 'POST' });
    expect(sub.status).toBe(200);
    const id = sub.body.data.task_id;
    expect(existsSync(join(keyed.dataDir, 'uploads', id))).toBe(true);
    const p = (await waitAll(keyedBase, [id], 60_000, 500, auth)).get(id)!;
    expect(p.status).toBe(1);
    const it0 = item0(p);
    expect(it0.seed_value).toMatch(/^\d+$/);
    expect(it0.dit_model).toBe('acestep-v15-turbo');
    const a = await fetch(keyedBase + it0.file, { headers: auth });
    expect(a.status).toBe(200);
    const pcm = await decodeAudio(new Uint8Array(await a.arrayBuffer()), 'x.wav');
    expect(pcm.channels[0].length).toBe(1200);
    // The upload was temporary.
    expect(existsSync(join(keyed.dataDir, 'uploads', id))).toBe(false);
  }, 120_000);
});

describe('security', () => {
  it('API key: ai_token in the body or Bearer; header-only endpoints; /health open', async () => {
    expect((await call(keyedBase, '/release_task', { json: QUICK })).status).toBe(401);
    expect((await call(keyedBase, '/release_task', { json: { ...QUICK, ai_token: 'wrong' } })).body.detail).toBe('Invalid API key');
    expect((await call(keyedBase, '/query_result', { json: { task_id_list: [], ai_token: KEY } })).status).toBe(200);
    expect((await call(keyedBase, '/query_result', { json: { task_id_list: [] }, headers: { authorization: KEY } })).status).toBe(200);
    const miss = await call(keyedBase, '/v1/stats');
    expect(miss.status).toBe(401);
    expect(miss.body.detail).toBe('Missing Authorization header');
    expect((await call(keyedBase, '/v1/stats', { headers: { authorization: 'Bearer nope' } })).body.detail).toBe('Invalid API key');
    expect((await call(keyedBase, '/v1/audio?path=/etc/passwd')).status).toBe(401);
  });

  it('CORS: null, localhost and 127.0.0.1 origins allowed, others not', async () => {
    const pre = (origin: string) =>
      fetch(`${base}/release_task`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,authorization' },
      });
    for (const o of ['null', 'http://localhost:5173', 'http://127.0.0.1:8080', 'http://localhost']) {
      const r = await pre(o);
      expect(r.headers.get('access-control-allow-origin'), o).toBe(o);
      expect(r.headers.get('access-control-allow-methods')).toContain('POST');
    }
    expect((await pre('https://evil.example')).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('audio paths: traversal and outside paths refused, files inside the data dirs accepted', async () => {
    const outside = writeTone(join(dir, 'outside.wav'), 6);
    expect((await call(base, '/release_task', { json: { ...QUICK, task_type: 'cover', src_audio_path: outside } })).body.detail).toMatch(
      /^src_audio_path: absolute audio file paths are not allowed/,
    );
    expect(
      (await call(base, '/release_task', { json: { ...QUICK, task_type: 'cover', src_audio_path: '../../outside.wav' } })).body.detail,
    ).toMatch(/^src_audio_path: relative audio file paths may not contain '\.\.'/);
    // A symlink inside the audio dir that points outside is still outside.
    mkdirSync(join(server.dataDir, 'audio', 'links'), { recursive: true });
    symlinkSync(outside, join(server.dataDir, 'audio', 'links', 'evil.wav'));
    const viaLink = await call(base, '/release_task', {
      json: { ...QUICK, task_type: 'cover', ref_audio_path: join(server.dataDir, 'audio', 'links', 'evil.wav') },
    });
    expect(viaLink.status).toBe(400);
    expect((await call(base, `/v1/audio?path=${encodeURIComponent(join(server.dataDir, 'audio', 'links', 'evil.wav'))}`)).status).toBe(403);
    expect((await call(base, `/v1/audio?path=${encodeURIComponent('/etc/passwd')}`)).body.detail).toBe(
      'Access denied: path outside allowed directory',
    );
    expect((await call(base, `/v1/audio?path=${encodeURIComponent(join(server.dataDir, 'audio', 'x', 'missing.wav'))}`)).status).toBe(404);
    expect((await call(base, `/v1/audio?path=${encodeURIComponent(join(server.dataDir, 'audio'))}`)).status).toBe(404);
    // A previous result may be the source of a new job.
    const first = (await waitAll(base, [await submit(base, QUICK)], 60_000)).values().next().value!;
    const prev = decodeURIComponent(item0(first).file.split('path=')[1]);
    const cover = await submit(base, { ...QUICK, task_type: 'cover', src_audio_path: prev });
    expect((await waitAll(base, [cover], 60_000)).get(cover)!.status).toBe(1);
  }, 120_000);

  it('refuses a non-loopback host without a key unless insecure', async () => {
    await expect(server.listen({ port: 0, host: '0.0.0.0' })).rejects.toThrow(/refusing to listen on '0.0.0.0' without an API key/);
  });

  it('a full queue answers 429', async () => {
    const ids: string[] = [];
    let rejected = 0;
    // Sent together, with jobs long enough (60 s of audio, 8 steps) that none ends meanwhile.
    const answers = await Promise.all(
      Array.from({ length: 8 }, () =>
        call(keyedBase, '/release_task', { json: { ...QUICK, audio_duration: 60, inference_steps: 8, ai_token: KEY } }),
      ),
    );
    for (const r of answers) {
      if (r.status === 429) {
        rejected++;
        expect(r.body.detail).toBe('Server busy: queue is full');
      } else ids.push(r.body.data.task_id);
    }
    expect(ids.length).toBe(5);
    expect(rejected).toBe(3);
    const done = await waitAll(keyedBase, ids, 90_000, 200, { authorization: KEY });
    expect([...done.values()].every((p) => p.status === 1)).toBe(true);
  }, 120_000);

  it('malformed requests answer 4xx and the process stays alive', async () => {
    const huge = 'x'.repeat(5 * 1024 * 1024);
    const cases: [string, RequestInit, number][] = [
      ['/release_task', { method: 'POST', body: '{"prompt": ', headers: { 'content-type': 'application/json' } }, 400],
      ['/release_task', { method: 'POST', body: '[1,2]', headers: { 'content-type': 'application/json' } }, 400],
      ['/release_task', { method: 'POST', body: 'null', headers: { 'content-type': 'application/json' } }, 400],
      ['/release_task', { method: 'POST', body: '<xml/>', headers: { 'content-type': 'text/xml' } }, 415],
      ['/release_task', { method: 'POST', body: JSON.stringify({ prompt: huge }), headers: { 'content-type': 'application/json' } }, 413],
      [
        '/release_task',
        { method: 'POST', body: JSON.stringify({ inference_steps: { a: 1 } }), headers: { 'content-type': 'application/vnd.api+json' } },
        400,
      ],
      [
        '/release_task',
        { method: 'POST', body: JSON.stringify({ seed: 'one,two' }), headers: { 'content-type': 'application/json' } },
        400,
      ],
      [
        '/release_task',
        { method: 'POST', body: JSON.stringify({ timesteps: 'a,b' }), headers: { 'content-type': 'application/json' } },
        400,
      ],
      [
        '/release_task',
        { method: 'POST', body: JSON.stringify({ track_classes: [1, 2] }), headers: { 'content-type': 'application/json' } },
        400,
      ],
      [
        '/release_task',
        {
          method: 'POST',
          body: JSON.stringify({ src_audio_path: 'a\u0000b', task_type: 'cover' }),
          headers: { 'content-type': 'application/json' },
        },
        400,
      ],
      [
        '/release_task',
        {
          method: 'POST',
          body: '--xyz\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nhi\r\n--xy',
          headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
        },
        400,
      ],
      ['/release_task', { method: 'POST', body: 'garbage', headers: { 'content-type': 'multipart/form-data' } }, 400],
      [
        '/query_result',
        { method: 'POST', body: JSON.stringify({ task_id_list: 7 }), headers: { 'content-type': 'application/json' } },
        400,
      ],
      [
        '/query_result',
        { method: 'POST', body: JSON.stringify({ task_id_list: '[broken' }), headers: { 'content-type': 'application/json' } },
        400,
      ],
      ['/v1/cancel', { method: 'POST', body: JSON.stringify({}), headers: { 'content-type': 'application/json' } }, 400],
      ['/v1/audio', { method: 'GET' }, 400],
      ['/v1/audio?path=..%2F..%2Fetc%2Fpasswd', { method: 'GET' }, 403],
      [
        '/v1/chat/completions',
        { method: 'POST', body: JSON.stringify({ messages: 'hi' }), headers: { 'content-type': 'application/json' } },
        400,
      ],
      ['/v1/create_sample', { method: 'POST', body: JSON.stringify({ query: 5 }), headers: { 'content-type': 'application/json' } }, 400],
      ['/nowhere', { method: 'GET' }, 404],
    ];
    for (const [path, init, status] of cases) {
      const r = await call(base, path, init);
      expect(r.status, `${path} ${String(init.body).slice(0, 60)}`).toBe(status);
      expect(typeof r.body.detail, path).toBe('string');
    }
    // A body with no Content-Type is sniffed: `{` is JSON, `=` a form, else 415.
    const sniff = async (body: string) => (await fetch(`${base}/query_result`, { method: 'POST', body: new Blob([body]) })).status;
    expect(await sniff('{"task_id_list": []}')).toBe(200);
    expect(await sniff('task_id_list=[]')).toBe(200);
    expect(await sniff('hello')).toBe(415);
    // Wrong keys on the keyed server.
    for (const token of ['', 'x', KEY.slice(0, -1), `${KEY}x`]) {
      const r = await call(keyedBase, '/release_task', { json: { ...QUICK, ai_token: token } });
      expect(r.status).toBe(401);
    }
    expect((await call(base, '/health')).status).toBe(200);
  }, 60_000);
});

describe('retention', () => {
  it('removes finished records and their audio after the configured age; uploads over the limit answer 413', async () => {
    const s = await createServer({
      checkpoints: ckpt,
      device: 'cpu',
      dataDir: join(dir, 'short'),
      apiKey: null,
      retentionMs: 1500,
      redis: null,
      uploadLimit: 4096,
    });
    const b = await s.listen({ port: 0 });
    try {
      const form = new FormData();
      form.append('task_type', 'cover');
      form.append('src_audio', new Blob([new Uint8Array(10_000)]), 'big.wav');
      const big = await call(b, '/release_task', { method: 'POST', body: form });
      expect(big.status).toBe(413);
      expect(big.body.detail).toMatch(/size limit|too large/i);
      expect((await call(b, '/v1/stats')).body.data.jobs.total).toBe(0);
      const id = await submit(b, QUICK);
      const p = (await waitAll(b, [id], 60_000)).get(id)!;
      expect(p.status).toBe(1);
      const file = decodeURIComponent(item0(p).file.split('path=')[1]);
      expect(existsSync(file)).toBe(true);
      const end = Date.now() + 10_000;
      while (existsSync(file) && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
      expect(existsSync(file)).toBe(false);
      expect((await query(b, [id]))[0].result).toBe('[]');
    } finally {
      await s.close();
    }
  }, 90_000);
});
