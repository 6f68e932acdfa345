// LM endpoints: /format_input, /v1/create_sample, /create_random_sample, and the OpenRouter-style
// /v1/chat/completions (a generation job answered with the audio as a base64 data URL, or as an
// SSE stream with heartbeats while the job runs).
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createSample, formatSample } from '../../pipeline/lm-api.js';
import { ParamError } from '../../pipeline/params.js';
import { requireBodyOrHeaderKey, requireHeaderKey } from '../auth.js';
import type { ServerContext } from '../context.js';
import { HttpError, ok, softError } from '../envelope.js';
import type { EngineHost } from '../engine-host.js';
import type { JobRecord } from '../jobs.js';
import { CUSTOM_EXAMPLES, SIMPLE_EXAMPLES } from '../random-examples.js';
import { lookup, lookupLayers, parseBool } from '../release-fields.js';
import { decodeFields } from '../request-body.js';
import { acceptJob, buildJobSpec } from './generation.js';

function needLm(ctx: ServerContext): EngineHost {
  if (!ctx.host || !ctx.host.current?.hasLm)
    throw new HttpError(503, 'LLM not initialized: this server has no 5 Hz LM (start it with --checkpoints holding acestep-5Hz-lm-*)');
  return ctx.host;
}

function optNumber(field: string, v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new HttpError(400, `${field}: must be a number, got ${JSON.stringify(v)}`);
  return n;
}

const MIME: Record<string, string> = { '.mp3': 'audio/mpeg', '.wav': 'audio/wav', '.flac': 'audio/flac' };

async function waitFinished(ctx: ServerContext, taskId: string, onTick: () => void, closed: () => boolean): Promise<JobRecord | null> {
  for (;;) {
    const rec = await ctx.queue.get(taskId);
    if (!rec || rec.status === 'succeeded' || rec.status === 'failed' || closed()) return rec;
    onTick();
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function lmRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/format_input', async (req) => {
    const body = await decodeFields(req);
    requireBodyOrHeaderKey(req, body, ctx.apiKey);
    const host = needLm(ctx);
    const layers = lookupLayers(body);
    const meta = {
      bpm: lookup(layers.slice(1), ['bpm']) as number | undefined,
      duration: lookup(layers.slice(1), ['duration']) as number | undefined,
      keyscale: lookup(layers.slice(1), ['key', 'key_scale']) as string | undefined,
      timesignature: lookup(layers.slice(1), ['time_signature']) as string | undefined,
      language: lookup(layers.slice(1), ['language']) as string | undefined,
    };
    try {
      const r = await host.exclusive((engine) =>
        formatSample(
          engine,
          { caption: String(body.prompt ?? ''), lyrics: String(body.lyrics ?? ''), userMetadata: meta },
          { temperature: optNumber('temperature', body.temperature) ?? 0.85 },
        ),
      );
      // A caption or lyrics the LM context cannot hold is the caller's error, as a thrown ParamError is.
      if (!r.success)
        return r.errorCode === 'ERR_PARAM' ? softError(r.error ?? 'invalid input', 400) : softError(`format failed: ${r.error}`, 500);
      return ok({
        caption: r.caption,
        lyrics: r.lyrics,
        bpm: r.bpm,
        key_scale: r.keyscale,
        time_signature: r.timesignature,
        duration: r.duration,
        vocal_language: r.language,
      });
    } catch (e) {
      if (e instanceof ParamError || e instanceof HttpError) return softError(e.message, 400);
      throw e;
    }
  });

  app.post('/v1/create_sample', async (req) => {
    requireHeaderKey(req, ctx.apiKey);
    const body = await decodeFields(req);
    const host = needLm(ctx);
    if (body.query !== undefined && typeof body.query !== 'string') throw new HttpError(400, 'query: must be a string');
    const instrumental = body.instrumental === undefined ? false : parseBool('instrumental', body.instrumental);
    const lang = body.vocal_language === undefined ? 'unknown' : String(body.vocal_language);
    const temperature = optNumber('temperature', body.temperature) ?? 0.85;
    try {
      const r = await host.exclusive((engine) =>
        createSample(engine, { query: String(body.query ?? ''), instrumental, vocalLanguage: lang }, { temperature }),
      );
      if (!r.success && r.errorCode === 'ERR_PARAM') throw new HttpError(400, r.error ?? 'invalid input');
      if (!r.success) return softError(`create_sample failed: ${r.error}`, 500);
      return ok({
        caption: r.caption,
        lyrics: r.lyrics,
        bpm: r.bpm,
        keyscale: r.keyscale,
        duration: r.duration,
        timesignature: r.timesignature,
        vocal_language: r.language || lang,
        instrumental,
      });
    } catch (e) {
      if (e instanceof ParamError) throw new HttpError(400, e.message);
      throw e;
    }
  });

  app.post('/create_random_sample', async (req) => {
    const body = await decodeFields(req);
    requireBodyOrHeaderKey(req, body, ctx.apiKey);
    const simple = String(body.sample_type ?? 'simple_mode') === 'simple_mode';
    const list: object[] = simple ? SIMPLE_EXAMPLES : CUSTOM_EXAMPLES;
    if (list.length === 0) return softError('no example data', 400);
    return ok(list[Math.floor(Math.random() * list.length)]);
  });

  app.post('/v1/chat/completions', async (req, reply) => {
    const body = await decodeFields(req);
    requireBodyOrHeaderKey(req, body, ctx.apiKey);
    const messages = body.messages;
    if (!Array.isArray(messages) || messages.length === 0) throw new HttpError(400, 'messages: must be a non-empty list');
    const user = [...messages].reverse().find((m) => m && typeof m === 'object' && (m as { role?: unknown }).role === 'user') as
      { content?: unknown } | undefined;
    if (!user) throw new HttpError(400, 'messages: no user message');
    const text =
      typeof user.content === 'string'
        ? user.content
        : Array.isArray(user.content)
          ? user.content
              .map((p) =>
                p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : '',
              )
              .join('\n')
          : null;
    if (text === null) throw new HttpError(400, 'messages: user content must be a string or a list of text parts');
    const { messages: _m, stream: _s, model: _model, ...rest } = body;
    const taskId = randomUUID();
    const spec = buildJobSpec(ctx, taskId, { batch_size: 1, ...rest, prompt: text }, {});
    await acceptJob(ctx, spec);
    const model = typeof body.model === 'string' ? body.model : 'acestep/acestep-v15-turbo';
    const created = Math.floor(Date.now() / 1000);
    const id = `chatcmpl-${taskId}`;
    const answer = async (rec: JobRecord | null) => {
      if (!rec || rec.status !== 'succeeded')
        return { content: `generation failed: ${rec?.error ?? 'job lost'}`, audio: [] as object[], ok: false };
      const audio = [];
      for (const it of rec.items) {
        const path = (await ctx.queue.audioFile(it.audio)) ?? join(ctx.audioDir, it.audio);
        audio.push({
          type: 'audio_url',
          audio_url: { url: `data:${MIME[extname(path)] ?? 'application/octet-stream'};base64,${readFileSync(path).toString('base64')}` },
        });
      }
      const it = rec.items[0];
      return { content: `${it.prompt}\n\n${it.lyrics}`.trim(), audio, ok: true };
    };
    if (body.stream === true || body.stream === 'true') {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      let closed = false;
      req.raw.on('close', () => (closed = true));
      const chunk = (delta: object, finish: string | null) =>
        res.write(
          `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`,
        );
      chunk({ role: 'assistant' }, null);
      let beat = Date.now();
      const rec = await waitFinished(
        ctx,
        taskId,
        () => {
          if (Date.now() - beat >= 5000) {
            res.write(': heartbeat\n\n');
            beat = Date.now();
          }
        },
        () => closed,
      );
      if (!closed) {
        const a = await answer(rec);
        chunk({ content: a.content, audio: a.audio }, a.ok ? 'stop' : 'error');
        res.write('data: [DONE]\n\n');
      }
      res.end();
      return;
    }
    const rec = await waitFinished(
      ctx,
      taskId,
      () => undefined,
      () => false,
    );
    const a = await answer(rec);
    if (!a.ok) throw new HttpError(500, a.content);
    return {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: a.content, audio: a.audio }, finish_reason: 'stop' }],
    };
  });
}
