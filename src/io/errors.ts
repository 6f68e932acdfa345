// Typed errors of the io layer: each names the file and, where known, the tensor.
import { AcestepError } from '../runtime/errors.js';

export class CheckpointError extends AcestepError {
  constructor(
    message: string,
    readonly file: string,
    readonly tensor?: string,
  ) {
    super(`${file}${tensor ? ` [${tensor}]` : ''}: ${message}`, 'ERR_CHECKPOINT');
  }
}

/** Audio that cannot be read, decoded, encoded or used (corrupt, empty, silent, unsupported). */
export class AudioError extends AcestepError {
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(`${file}: ${message}`, 'ERR_AUDIO');
  }
}

/** An output folder that cannot be created or written to. */
export class OutputDirError extends AcestepError {
  constructor(
    message: string,
    readonly dir: string,
  ) {
    super(`${dir}: ${message}`, 'ERR_OUTPUT_DIR');
  }
}
