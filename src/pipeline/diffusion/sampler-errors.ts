// Typed errors of the diffusion sampler: bad sampler options (cancellation raises the pipeline's
// AbortedError).
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
