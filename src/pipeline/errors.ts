// Errors the pipeline raises across its stages. Cancellation is one class, AbortedError (code
// ERR_ABORTED), whether the caller's AbortSignal fired between pipeline stages, LM tokens or DiT
// steps; the message says where the work stopped.
import { AcestepError } from '../runtime/errors.js';

/** The caller's AbortSignal fired; raised at the next check point (a stage, LM token or DiT step). */
export class AbortedError extends AcestepError {
  constructor(message: string) {
    super(message, 'ERR_ABORTED');
  }
}

/** Throws AbortedError(`message()`) when `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, message: () => string): void {
  if (signal?.aborted) throw new AbortedError(message());
}
