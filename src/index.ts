// The acestep package entry: the engine, the generation and LM entry points, their parameter and
// result types, and the runtime controls and typed errors a caller needs.
export {
  AceStep,
  DIT_MODEL_NAMES,
  LM_MODEL_NAMES,
  LM_QUANTIZATION_CHOICES,
  type AceStepOptions,
  type DitQuantization,
  type LmQuantizationChoice,
  type LoadEvent,
} from './pipeline/engine.js';
export {
  generateMusic,
  GenerationNumericError,
  MIN_LATENT_FRAMES,
  FALLBACK_DURATION,
  type GenerationResult,
  type GeneratedAudio,
  type ProgressEvent,
  type RunOptions,
} from './pipeline/generate.js';
export {
  ParamError,
  DEFAULT_PARAMS,
  DEFAULT_CONFIG,
  MAX_BATCH_SIZE,
  PARAM_SPECS,
  CONFIG_SPECS,
  resolveParams,
  resolveConfig,
  planSeeds,
  type GenerationParams,
  type GenerationConfig,
  type ParamSpec,
} from './pipeline/params.js';
export {
  understandMusic,
  createSample,
  formatSample,
  audioToCodes,
  type UnderstandResult,
  type CreateSampleResult,
  type FormatSampleResult,
  type LmCallOptions,
} from './pipeline/lm-api.js';
export { TASK_TYPES, TRACK_NAMES, type TaskType } from './pipeline/conditioning/prompts.js';
// One cancellation error; the former per-stage names stay as aliases of it.
export {
  AbortedError,
  AbortedError as PipelineAbortedError,
  AbortedError as GenerationAbortedError,
  AbortedError as SamplerAbortedError,
} from './pipeline/errors.js';
export { SamplerConfigError } from './pipeline/diffusion/sampler-errors.js';
export {
  setBackend,
  getDefaultDevice,
  setNumThreads,
  getNumThreads,
  cudaInfo,
  memoryStats,
  setMemoryLimit,
  flush,
  AcestepError,
  ShapeError,
  OutOfMemoryError,
  KernelError,
  BackendUnavailableError,
  type BackendChoice,
  type Device,
} from './runtime/index.js';
export { CheckpointError, AudioError, OutputDirError } from './io/errors.js';
export { TokenizerError } from './text/index.js';
export { loadAudio, saveAudio, AUDIO_FORMATS, type AudioFormat, type Pcm } from './io/audio/index.js';
export { hubCacheDir, OFFICIAL_MODELS, DEFAULT_MODELS, MAIN_REPO, downloadCommand } from './io/hub-cache.js';
export { downloadModels, DownloadError, type DownloadOptions, type DownloadProgress, type DownloadedModel } from './io/hub-download.js';
export { createServer, type ServerOptions, type AceStepServer } from './server/server.js';
export { runRedisWorker, type RedisWorkerOptions } from './server/redis-queue.js';
