// Typed errors of the runtime. Native errors carry a `code` that maps onto these classes.

export class AcestepError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad arguments to an op: shapes, dtypes, devices, ranges. */
export class ShapeError extends AcestepError {
  constructor(message: string) {
    super(message, 'ERR_SHAPE');
  }
}

/** An allocation failed or exceeded the configured memory limit; the process lives on. */
export class OutOfMemoryError extends AcestepError {
  constructor(message: string) {
    super(message, 'ERR_OUT_OF_MEMORY');
  }
}

/** A kernel failed while running on the native queue (e.g. an index out of range). */
export class KernelError extends AcestepError {
  constructor(message: string) {
    super(message, 'ERR_KERNEL');
  }
}

/** The requested backend cannot be used here; the message says why. */
export class BackendUnavailableError extends AcestepError {
  constructor(message: string) {
    super(message, 'ERR_BACKEND_UNAVAILABLE');
  }
}

/** Converts an error thrown or rejected by the addon into the matching typed error. */
export function fromNative(e: unknown): Error {
  if (e instanceof AcestepError) return e;
  const err = e as { code?: string; message?: string };
  const msg = err?.message ?? String(e);
  if (err?.code === 'ERR_OUT_OF_MEMORY') return new OutOfMemoryError(msg);
  if (err?.code === 'ERR_KERNEL') return new KernelError(msg);
  if (e instanceof TypeError) return new ShapeError(msg);
  return e instanceof Error ? e : new Error(msg);
}
