// What every route needs: the options in force, the job queue, the engine (absent on a Redis
// front node started without checkpoints), the API key and the directories files may come from.
import type { EngineHost } from './engine-host.js';
import type { JobQueue } from './jobs.js';

export interface ServerContext {
  queue: JobQueue;
  host: EngineHost | null;
  apiKey: string | null;
  /** Generated audio (served by /v1/audio). */
  audioDir: string;
  /** Multipart uploads, one folder per task. */
  uploadDir: string;
  /** Directories `*_audio_path` may name (uploads, generated audio, and configured ones). */
  audioInputDirs: string[];
  /** `env` of result items (upstream: "development"). */
  env: string;
}
