// The two answer styles of upstream's REST protocol (contract §1): the 200 envelope
// `{data, code, error, timestamp, extra}` (also carrying "soft" failures as code 400/500), and
// HTTP errors with a `{detail}` body. Route code throws HttpError; the server's error handler
// turns it (and every other error) into the `{detail}` form so no request can crash the process.
export interface Envelope<T> {
  data: T | null;
  code: number;
  error: string | null;
  timestamp: number;
  extra: unknown;
}

export function ok<T>(data: T, extra: unknown = null): Envelope<T> {
  return { data, code: 200, error: null, timestamp: Date.now(), extra };
}

/** Upstream's "HTTP 200 with wrapped code=400/500" failure. */
export function softError(message: string, code = 400): Envelope<null> {
  return { data: null, code, error: message, timestamp: Date.now(), extra: null };
}

/** An HTTP error answered as `{"detail": message}` with the given status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}
