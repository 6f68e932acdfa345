// `acestep serve` and `acestep worker`: the REST server on one node (SQLite job store, or Redis
// with --redis) and the Redis job worker, with their flags parsed by commander.
import { Command, InvalidArgumentError } from 'commander';
import type { BackendChoice } from '../runtime/index.js';
import { ParamError } from '../pipeline/params.js';
import { LM_QUANTIZATION_CHOICES, type DitQuantization, type LmQuantizationChoice } from '../pipeline/engine.js';
import { EngineHost } from './engine-host.js';
import { runRedisWorker } from './redis-queue.js';
import { checkBindHost, createServer, DEFAULT_PORT, DEFAULT_QUEUE_MAX, envQueueMax } from './server.js';

const int = (name: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
  return n;
};
const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!(n > 0)) throw new InvalidArgumentError(`${name} must be a number > 0`);
  return n;
};
const device = (v: string) => {
  if (!['auto', 'cpu', 'cuda'].includes(v)) throw new InvalidArgumentError('must be auto, cpu or cuda');
  return v as BackendChoice;
};
const quantization = (v: string) => {
  if (!['none', 'auto', 'w8a8_dynamic'].includes(v)) throw new InvalidArgumentError('must be none, auto or w8a8_dynamic');
  return v as DitQuantization;
};
const QUANTIZATION_HELP = "DiT weight quantization, upstream's values (w8a8_dynamic: int8 weights and activations)";
const lmQuantization = (v: string) => {
  if (!(LM_QUANTIZATION_CHOICES as readonly string[]).includes(v))
    throw new InvalidArgumentError(`must be ${LM_QUANTIZATION_CHOICES.join(', ')}`);
  return v as LmQuantizationChoice;
};
const DAY_MS = 24 * 3600 * 1000;

/** Resolves when SIGINT/SIGTERM arrives. */
function untilSignal(): Promise<string> {
  return new Promise((res) => {
    for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => res(s));
  });
}

interface ServeFlags {
  checkpoints?: string;
  port: number;
  host: string;
  apiKey?: string;
  dataDir: string;
  queueMax?: number;
  redis?: string;
  redisPrefix: string;
  queueName: string;
  device: BackendChoice;
  insecure?: boolean;
  retentionDays: number;
  audioDir: string[];
  lmMaxModelLen?: number;
  quantization?: DitQuantization;
  lmQuantization?: LmQuantizationChoice;
  log?: boolean;
}

/** Adds `serve` to a commander program. */
export function serveCommand(program: Command, io: ServerCliIo = process): Command {
  return program
    .command('serve')
    .description("REST server speaking upstream's API (jobs in SQLite under --data-dir, or in Redis with --redis)")
    .option('--checkpoints <dir>', 'checkpoint root (optional for a Redis front node that runs no models)')
    .option('--port <n>', 'port', int('--port', 0), DEFAULT_PORT)
    .option('--host <addr>', 'address to bind (non-loopback needs --api-key or --insecure)', '127.0.0.1')
    .option('--api-key <key>', 'API key (env ACESTEP_API_KEY)')
    .option('--data-dir <dir>', 'jobs database, generated audio and uploads', 'acestep-data')
    .option(
      '--queue-max <n>',
      `queued + running jobs before 429 (env ACESTEP_QUEUE_MAXSIZE, default ${DEFAULT_QUEUE_MAX})`,
      int('--queue-max', 1),
    )
    .option('--redis <url>', 'Redis URL: jobs run on `acestep worker` processes (env REDIS_URL)')
    .option('--redis-prefix <p>', 'BullMQ key prefix', 'acestep')
    .option('--queue-name <name>', 'BullMQ queue name', 'generate')
    .option('--device <d>', 'auto, cpu or cuda', device, 'auto')
    .option('--insecure', 'allow a non-loopback --host without an API key')
    .option('--retention-days <d>', 'remove finished jobs and their audio after this many days', positive('--retention-days'), 7)
    .option(
      '--audio-dir <dir>',
      'another directory *_audio_path may name (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--lm-max-model-len <n>', 'LM context window', int('--lm-max-model-len', 256))
    .option('--quantization <mode>', QUANTIZATION_HELP, quantization)
    .option('--lm-quantization <mode>', 'LM weights: none (default), or int8 rows with per-row scales', lmQuantization)
    .option('--log', 'log every request (JSON lines on stdout)')
    .action(async (f: ServeFlags) => {
      const apiKey = f.apiKey || process.env.ACESTEP_API_KEY || null;
      // Refuse an unsafe address before spending time on loading models.
      checkBindHost(f.host, apiKey, f.insecure);
      const server = await createServer({
        checkpoints: f.checkpoints ?? null,
        device: f.device,
        dataDir: f.dataDir,
        apiKey,
        queueMax: f.queueMax ?? envQueueMax() ?? DEFAULT_QUEUE_MAX,
        redis: f.redis ?? process.env.REDIS_URL ?? null,
        redisPrefix: f.redisPrefix,
        queueName: f.queueName,
        retentionMs: f.retentionDays * DAY_MS,
        audioInputDirs: f.audioDir,
        lmMaxModelLen: f.lmMaxModelLen,
        quantization: f.quantization,
        lmQuantization: f.lmQuantization,
        logger: f.log === true,
      });
      let url: string;
      try {
        url = await server.listen({ port: f.port, host: f.host, insecure: f.insecure });
      } catch (e) {
        await server.close();
        throw e;
      }
      io.stdout.write(`acestep serve: listening on ${url}\n`);
      await untilSignal();
      await server.close();
    });
}

interface WorkerFlags {
  redis?: string;
  checkpoints: string;
  dataDir: string;
  device: BackendChoice;
  redisPrefix: string;
  queueName: string;
  lockMs: number;
  retentionDays: number;
  lmMaxModelLen?: number;
  quantization?: DitQuantization;
  lmQuantization?: LmQuantizationChoice;
}

/** Adds `worker` to a commander program. */
export function workerCommand(program: Command, io: ServerCliIo = process): Command {
  return program
    .command('worker')
    .description('runs jobs from the Redis queue of `acestep serve --redis` (one per machine or GPU)')
    .option('--redis <url>', 'Redis URL (env REDIS_URL)')
    .requiredOption('--checkpoints <dir>', 'checkpoint root')
    .option('--data-dir <dir>', 'scratch space for audio being generated', 'acestep-worker-data')
    .option('--device <d>', 'auto, cpu or cuda', device, 'auto')
    .option('--redis-prefix <p>', 'BullMQ key prefix', 'acestep')
    .option('--queue-name <name>', 'BullMQ queue name', 'generate')
    .option('--lock-ms <ms>', 'job lock; a worker silent this long is presumed dead and its job moves on', int('--lock-ms', 500), 30000)
    .option('--retention-days <d>', 'how long results and audio stay in Redis', positive('--retention-days'), 7)
    .option('--lm-max-model-len <n>', 'LM context window', int('--lm-max-model-len', 256))
    .option('--quantization <mode>', QUANTIZATION_HELP, quantization)
    .option('--lm-quantization <mode>', 'LM weights: none (default), or int8 rows with per-row scales', lmQuantization)
    .action(async (f: WorkerFlags) => {
      const url = f.redis ?? process.env.REDIS_URL;
      if (!url) throw new ParamError('redis', '--redis <url> (or env REDIS_URL) is required');
      const host = new EngineHost({
        checkpoints: f.checkpoints,
        device: f.device,
        lmMaxModelLen: f.lmMaxModelLen,
        quantization: f.quantization,
        lmQuantization: f.lmQuantization,
      });
      const onJob = (event: string, id: string, detail?: string) =>
        io.stdout.write(`acestep worker: job ${id} ${event}${detail ? `: ${detail}` : ''}\n`);
      const w = await runRedisWorker({
        url,
        prefix: f.redisPrefix,
        queueName: f.queueName,
        dataDir: f.dataDir,
        host,
        lockMs: f.lockMs,
        retentionMs: f.retentionDays * DAY_MS,
        onJob,
      });
      io.stdout.write(`acestep worker: ready (pid ${process.pid})\n`);
      await untilSignal();
      await w.close();
      host.dispose();
    });
}

/** Where the commands write: their result lines, and help, usage errors and failures. */
export interface ServerCliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

/** Runs `serve` or `worker` from argv (the words after `acestep`); resolves to the exit code. */
export async function runServerCli(argv: string[], io: ServerCliIo = process): Promise<number> {
  const program = new Command('acestep').exitOverride();
  serveCommand(program, io);
  workerCommand(program, io);
  const output = { writeOut: (s: string) => void io.stdout.write(s), writeErr: (s: string) => void io.stderr.write(s) };
  program.configureOutput(output);
  for (const sub of program.commands) sub.exitOverride().configureOutput(output);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode;
    if (code !== undefined && (e as { code?: string }).code?.startsWith('commander.')) return code === 0 ? 0 : 2;
    io.stderr.write(`acestep: ${(e as Error).message}\n`);
    return e instanceof ParamError ? 2 : 1;
  }
}
