// Typed errors of the diffusion sampler: bad sampler options and cancellation.
import { AcestepError } from '../../runtime/errors.js';

/** A sampler option is out of range or inconsistent; the message names the option. */
export class SamplerConfigError extends AcestepError {
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`sampler option '${option}': ${message}`, 'ERR_SAMPLER_CONFIG');
  }
}

/** The AbortSignal passed to the sampler fired; raised between steps. */
export class SamplerAbortedError extends AcestepError {
  constructor(
    readonly step: number,
    readonly steps: number,
  ) {
    super(`sampling aborted before step ${step + 1} of ${steps}`, 'ERR_ABORTED');
  }
}
