// createServer: upstream's REST API (contract docs/SERVER.md) over one engine and a job queue that
// never loses an accepted job: SQLite in the data dir by default, Redis/BullMQ with `redis`.
// fastify with @fastify/multipart and @fastify/cors; every body arrives as raw text so malformed
// input is answered 4xx with `{detail}` and never reaches the process's crash path.
import { mkdirSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import cors from '@fastify/cors';
import multipart from '@fastify/multipart';
import type { BackendChoice } from '../runtime/index.js';
import { ParamError } from '../pipeline/params.js';
import type { ServerContext } from './context.js';
import type { DitQuantization, LmQuantizationChoice } from '../pipeline/engine.js';
import { EngineHost } from './engine-host.js';
import { HttpError } from './envelope.js';
import type { JobQueue } from './jobs.js';
import { RedisQueue } from './redis-queue.js';
import type { RawBody } from './request-body.js';
import { generationRoutes } from './routes/generation.js';
import { lmRoutes } from './routes/lm.js';
import { modelRoutes } from './routes/models.js';
import { SqliteQueue } from './sqlite-queue.js';
import { registerStatic } from './static.js';

export const DEFAULT_PORT = 8001;
export const DEFAULT_QUEUE_MAX = 200;
/** Upstream keeps results 7 days. */
export const DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000;

export interface ServerOptions {
  /** Checkpoint root; required unless this is a Redis front node that runs no models. */
  checkpoints?: string | null;
  device?: BackendChoice;
  /** Jobs database, generated audio and uploads (default ./acestep-data). */
  dataDir?: string;
  /** API key (default: env ACESTEP_API_KEY); null/empty = no auth. */
  apiKey?: string | null;
  /** Queued + running jobs accepted before 429 (default env ACESTEP_QUEUE_MAXSIZE or 200). */
  queueMax?: number;
  /** Redis URL: queue, progress, cancel flags and results live in Redis (default env REDIS_URL). */
  redis?: string | null;
  /** BullMQ key prefix and queue name (defaults 'acestep' / 'generate'). */
  redisPrefix?: string;
  queueName?: string;
  /** Age after which finished jobs and their audio are removed (default 7 days). */
  retentionMs?: number;
  /** Largest JSON/form body in bytes (default 4 MiB). */
  bodyLimit?: number;
  /** Largest uploaded audio file in bytes (default 200 MiB). */
  uploadLimit?: number;
  /** More directories `*_audio_path` may name. */
  audioInputDirs?: string[];
  /** LM context window (engine option). */
  lmMaxModelLen?: number;
  /** DiT weight quantization (engine option). */
  quantization?: DitQuantization;
  /** LM weight storage (engine option). */
  lmQuantization?: LmQuantizationChoice;
  /** fastify logging (default off). */
  logger?: boolean;
}

export interface AceStepServer {
  app: FastifyInstance;
  queue: JobQueue;
  host: EngineHost | null;
  dataDir: string;
  /** Starts listening; without an API key a non-loopback host is refused unless `insecure`. */
  listen(opts?: { port?: number; host?: string; insecure?: boolean }): Promise<string>;
  /** Stops taking requests, lets the running job end (or be re-run on the next start), frees the engine. */
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Upstream's CORS origins: `null` (file://), localhost and 127.0.0.1 on any port. */
export function corsOriginAllowed(origin: string | undefined): boolean {
  if (origin === undefined || origin === 'null') return true;
  return /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/.test(origin);
}

/** Without an API key only loopback addresses are served, unless the caller insists. */
export function checkBindHost(host: string, apiKey: string | null, insecure = false): void {
  if (!apiKey && !LOOPBACK.has(host) && !insecure) {
    throw new ParamError('host', `refusing to listen on '${host}' without an API key; set --api-key / ACESTEP_API_KEY or pass --insecure`);
  }
}

export function envQueueMax(): number | undefined {
  const v = process.env.ACESTEP_QUEUE_MAXSIZE;
  return v && Number.isInteger(Number(v)) && Number(v) > 0 ? Number(v) : undefined;
}

export async function createServer(options: ServerOptions = {}): Promise<AceStepServer> {
  const dataDir = resolve(options.dataDir ?? 'acestep-data');
  mkdirSync(dataDir, { recursive: true });
  const apiKey = (options.apiKey === undefined ? process.env.ACESTEP_API_KEY : options.apiKey) || null;
  const queueMax = options.queueMax ?? envQueueMax() ?? DEFAULT_QUEUE_MAX;
  if (!Number.isInteger(queueMax) || queueMax < 1) throw new ParamError('queueMax', `must be an integer >= 1, got ${queueMax}`);
  const redis = options.redis === undefined ? process.env.REDIS_URL || null : options.redis;
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;

  const host = options.checkpoints
    ? new EngineHost({
        checkpoints: options.checkpoints,
        device: options.device ?? 'auto',
        lmMaxModelLen: options.lmMaxModelLen,
        quantization: options.quantization,
        lmQuantization: options.lmQuantization,
      })
    : null;
  if (!host && !redis)
    throw new ParamError('checkpoints', 'a checkpoint root is required (only a Redis front node may run without models)');
  if (host) await host.load();

  let queue: JobQueue;
  let audioDir: string;
  let uploadDir: string;
  if (redis) {
    const q = new RedisQueue({
      url: redis,
      prefix: options.redisPrefix ?? 'acestep',
      queueName: options.queueName ?? 'generate',
      dataDir,
      queueMax,
      retentionMs,
    });
    await q.ready();
    queue = q;
    ({ audioDir, uploadDir } = q);
  } else {
    const q = new SqliteQueue({ dataDir, queueMax, retentionMs, host });
    queue = q;
    ({ audioDir, uploadDir } = q);
  }
  mkdirSync(audioDir, { recursive: true });
  mkdirSync(uploadDir, { recursive: true });
  audioDir = realpathSync(audioDir);
  uploadDir = realpathSync(uploadDir);
  const ctx: ServerContext = {
    queue,
    host,
    apiKey,
    audioDir,
    uploadDir,
    audioInputDirs: [uploadDir, audioDir, ...(options.audioInputDirs ?? []).map((d) => resolve(d))],
    env: 'development',
  };

  const app = Fastify({ logger: options.logger ?? false, bodyLimit: options.bodyLimit ?? 4 * 1024 * 1024, return503OnClosing: true });
  app.removeAllContentTypeParsers();
  const raw = (kind: RawBody['kind']) => (_req: unknown, body: string, done: (err: Error | null, body?: RawBody) => void) =>
    done(null, { kind, text: body });
  app.addContentTypeParser('application/json', { parseAs: 'string' }, raw('json'));
  app.addContentTypeParser(/^application\/[\w.+-]+\+json$/, { parseAs: 'string' }, raw('json'));
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, raw('form'));
  await app.register(multipart, {
    limits: { fileSize: options.uploadLimit ?? 200 * 1024 * 1024, files: 4, fields: 200, fieldSize: options.bodyLimit ?? 4 * 1024 * 1024 },
  });
  app.addContentTypeParser('*', { parseAs: 'string' }, raw('unknown'));
  await app.register(cors, {
    origin: (origin, cb) => cb(null, corsOriginAllowed(origin)),
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ['Content-Type', 'Authorization'],
  });

  app.setErrorHandler((err: Error, req, reply) => {
    if (err instanceof HttpError) return reply.status(err.status).send({ detail: err.message });
    if (err instanceof ParamError) return reply.status(400).send({ detail: err.message });
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500) return reply.status(status).send({ detail: err.message });
    req.log.error(err);
    return reply.status(500).send({ detail: `internal error: ${err.message}` });
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ detail: `Not Found: ${req.method} ${req.url.split('?')[0]}` }));

  generationRoutes(app, ctx);
  lmRoutes(app, ctx);
  modelRoutes(app, ctx);
  await registerStatic(app);

  return {
    app,
    queue,
    host,
    dataDir,
    async listen(opts = {}) {
      const bindHost = opts.host ?? '127.0.0.1';
      checkBindHost(bindHost, apiKey, opts.insecure);
      return app.listen({ port: opts.port ?? DEFAULT_PORT, host: bindHost });
    },
    async close() {
      await app.close();
      await queue.close();
      host?.dispose();
    },
  };
}
