// Job endpoints: /release_task (submit), /query_result (poll), and beyond upstream, /v1/cancel and
// /v1/jobs/:task_id/events (server-sent progress), plus /v1/audio serving the generated files.
import { randomUUID } from 'node:crypto';
import { createReadStream, rmSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ParamError, resolveConfig, resolveParams } from '../../pipeline/params.js';
import { requireBodyOrHeaderKey, requireHeaderKey } from '../auth.js';
import type { ServerContext } from '../context.js';
import { HttpError, ok } from '../envelope.js';
import { QueueFullError, STATUS_CODE, type JobRecord, type JobSpec } from '../jobs.js';
import { confineAudioPath, confineServedFile } from '../paths.js';
import { readReleaseFields, restFieldOf } from '../release-fields.js';
import { decodeFields, decodeRequest } from '../request-body.js';

const AUDIO_TYPES: Record<string, string> = {
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav',
  '.flac': 'audio/flac',
  '.ogg': 'audio/ogg',
  '.opus': 'audio/ogg',
};

/** Validates a release body into a job spec; uploads were saved under the task's upload folder. */
export function buildJobSpec(
  ctx: ServerContext,
  taskId: string,
  fields: Record<string, unknown>,
  uploads: { src?: string; ref?: string },
): JobSpec {
  const release = readReleaseFields(fields);
  const base = join(ctx.uploadDir, taskId);
  if (uploads.src) release.srcAudioPath = uploads.src;
  else if (release.srcAudioPath)
    release.srcAudioPath = confineAudioPath('src_audio_path', release.srcAudioPath, ctx.uploadDir, ctx.audioInputDirs);
  if (uploads.ref) release.referenceAudioPath = uploads.ref;
  else if (release.referenceAudioPath)
    release.referenceAudioPath = confineAudioPath('reference_audio_path', release.referenceAudioPath, ctx.uploadDir, ctx.audioInputDirs);
  if (release.mode !== 'generate') {
    if (!release.srcAudioPath && !(release.mode === 'understand' && release.params.audio_codes)) {
      throw new HttpError(
        400,
        `src_audio_path: ${release.mode === 'codes' ? 'extract_codes_only' : 'analysis'} needs a source audio (src_audio upload or src_audio_path)${release.mode === 'understand' ? ' or audio_code_string' : ''}`,
      );
    }
    return { taskId, createdAt: Date.now() / 1000, release, uploads: uploads.src || uploads.ref ? [base] : [] };
  }
  // The pipeline's own validation, before the job is accepted: a bad field answers 400 naming it.
  try {
    resolveParams({ ...release.params, src_audio: release.srcAudioPath, reference_audio: release.referenceAudioPath });
    resolveConfig(release.config);
  } catch (e) {
    if (e instanceof ParamError) throw new HttpError(400, `${restFieldOf(e.param)}: ${e.message.slice(e.param.length + 2)}`);
    throw e;
  }
  return { taskId, createdAt: Date.now() / 1000, release, uploads: uploads.src || uploads.ref ? [base] : [] };
}

/** Accepts a job: durably queued before the task id is answered; 429 when the queue is full. */
export async function acceptJob(ctx: ServerContext, spec: JobSpec): Promise<number> {
  try {
    return await ctx.queue.submit(spec);
  } catch (e) {
    if (e instanceof QueueFullError) throw new HttpError(429, e.message);
    throw e;
  }
}

/** The `result` list of /query_result (a JSON string upstream; contract §5). */
export function resultItems(ctx: ServerContext, rec: JobRecord | null): Record<string, unknown>[] {
  if (!rec) return [];
  const common = { wave: '', status: STATUS_CODE[rec.status], create_time: Math.floor(rec.createdAt), env: ctx.env };
  if (rec.status === 'succeeded') {
    return rec.items.map(({ extra, ...it }) => ({
      file: it.audio ? `/v1/audio?path=${encodeURIComponent(join(ctx.audioDir, it.audio))}` : '',
      ...common,
      prompt: it.prompt,
      lyrics: it.lyrics,
      metas: it.metas,
      generation_info: it.generation_info,
      seed_value: it.seed_value,
      lm_model: it.lm_model,
      dit_model: it.dit_model,
      progress: 1.0,
      stage: 'succeeded',
      error: null,
      reruns: rec.reruns,
      ...extra,
    }));
  }
  const failed = rec.status === 'failed';
  const position = rec.queuePosition !== undefined ? { queue_position: rec.queuePosition } : {};
  return [
    {
      file: '',
      ...common,
      prompt: '',
      lyrics: '',
      metas: {},
      progress: failed ? 0.0 : rec.progress,
      stage: failed ? 'failed' : rec.stage,
      error: failed ? rec.error : null,
      reruns: rec.reruns,
      ...position,
    },
  ];
}

function progressText(rec: JobRecord | null): string {
  if (!rec) return '';
  if (rec.status === 'failed') return `failed: ${rec.error}`;
  if (rec.status === 'succeeded') return 'succeeded';
  return rec.text || rec.stage;
}

function taskIdList(body: Record<string, unknown>): string[] {
  let v = body.task_id_list ?? body.task_ids ?? body.task_id;
  if (typeof v === 'string') {
    const t = v.trim();
    if (t.startsWith('[')) {
      try {
        v = JSON.parse(t);
      } catch {
        throw new HttpError(400, 'task_id_list: not a JSON list');
      }
    } else v = t === '' ? [] : t.split(',').map((s) => s.trim());
  }
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new HttpError(400, 'task_id_list: must be a list of task id strings');
  if (v.length > 1000) throw new HttpError(400, 'task_id_list: at most 1000 ids per request');
  return v;
}

function taskIdOf(body: Record<string, unknown>): string {
  const id = body.task_id ?? body.job_id;
  if (typeof id !== 'string' || id === '') throw new HttpError(400, 'task_id: required (a task id string)');
  return id;
}

export function generationRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post('/release_task', async (req) => {
    const taskId = randomUUID();
    const uploadDir = join(ctx.uploadDir, taskId);
    let spec: JobSpec;
    try {
      const { fields, uploads } = await decodeRequest(req, uploadDir);
      requireBodyOrHeaderKey(req, fields, ctx.apiKey);
      spec = buildJobSpec(ctx, taskId, fields, uploads);
    } catch (e) {
      rmSync(uploadDir, { recursive: true, force: true });
      throw e;
    }
    try {
      const position = await acceptJob(ctx, spec);
      return ok({ task_id: taskId, status: 'queued', queue_position: position });
    } catch (e) {
      rmSync(uploadDir, { recursive: true, force: true });
      throw e;
    }
  });

  app.post('/query_result', async (req) => {
    const body = await decodeFields(req);
    requireBodyOrHeaderKey(req, body, ctx.apiKey);
    const ids = taskIdList(body);
    const data = [];
    for (const id of ids) {
      const rec = await ctx.queue.get(id);
      data.push({
        task_id: id,
        status: rec ? STATUS_CODE[rec.status] : 0,
        result: JSON.stringify(resultItems(ctx, rec)),
        progress_text: progressText(rec),
      });
    }
    return ok(data);
  });

  app.post('/v1/cancel', async (req) => {
    const body = await decodeFields(req);
    requireBodyOrHeaderKey(req, body, ctx.apiKey);
    const id = taskIdOf(body);
    const outcome = await ctx.queue.cancel(id);
    if (outcome === 'not_found') throw new HttpError(404, `task not found: ${id}`);
    return ok({ task_id: id, status: outcome });
  });

  app.get('/v1/jobs/:task_id/events', async (req, reply) => {
    requireHeaderKey(req, ctx.apiKey);
    const id = (req.params as { task_id: string }).task_id;
    if (!(await ctx.queue.get(id))) throw new HttpError(404, `task not found: ${id}`);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    let last = '';
    let closed = false;
    req.raw.on('close', () => (closed = true));
    let beat = Date.now();
    while (!closed) {
      const rec = await ctx.queue.get(id);
      const ev = rec
        ? {
            task_id: id,
            status: STATUS_CODE[rec.status],
            state: rec.status,
            progress: rec.status === 'succeeded' ? 1 : rec.progress,
            stage: rec.stage,
            progress_text: progressText(rec),
            error: rec.error,
            queue_position: rec.queuePosition ?? null,
          }
        : null;
      const s = JSON.stringify(ev);
      if (s !== last) {
        last = s;
        const done = !rec || rec.status === 'succeeded' || rec.status === 'failed';
        const data = done && rec ? { ...ev, result: resultItems(ctx, rec) } : ev;
        res.write(`event: ${done ? 'done' : 'progress'}\ndata: ${JSON.stringify(data)}\n\n`);
        if (done) break;
      } else if (Date.now() - beat > 15000) {
        res.write(': heartbeat\n\n');
        beat = Date.now();
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    res.end();
  });

  app.get('/v1/audio', async (req: FastifyRequest, reply) => {
    requireHeaderKey(req, ctx.apiKey);
    const q = req.query as { path?: unknown };
    if (typeof q.path !== 'string' || q.path === '') throw new HttpError(400, 'path: required');
    // A file that lives in a shared store is brought into the local audio dir first.
    const rel = relativeAudio(ctx, q.path);
    if (rel !== null) await ctx.queue.audioFile(rel);
    const file = confineServedFile(q.path, [ctx.audioDir]);
    const st = statSync(file);
    if (!st.isFile()) throw new HttpError(404, 'Audio file not found');
    const size = st.size;
    reply.header('content-type', AUDIO_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream');
    reply.header('content-length', size);
    return reply.send(createReadStream(file));
  });
}

/** `<task>/<file>` of a path inside the audio dir, else null. */
function relativeAudio(ctx: ServerContext, path: string): string | null {
  const prefix = ctx.audioDir.endsWith('/') ? ctx.audioDir : `${ctx.audioDir}/`;
  if (!path.startsWith(prefix)) return null;
  const rel = path.slice(prefix.length);
  return /^[0-9a-f-]{36}\/[A-Za-z0-9_.-]+$/.test(rel) ? rel : null;
}
