// The REST client of the page: the same calls any client of `acestep serve` makes. Unwraps
// upstream's envelope, turns both error styles (HTTP 4xx/5xx with `detail`, HTTP 200 with `code`
// != 200) into ApiError, and sends the API key as `Authorization: Bearer` when one is set.

const KEY_STORE = 'acestep.apiKey';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function apiKey(): string {
  return localStorage.getItem(KEY_STORE) ?? '';
}

export function setApiKey(key: string): void {
  if (key) localStorage.setItem(KEY_STORE, key);
  else localStorage.removeItem(KEY_STORE);
}

export function authHeaders(): Record<string, string> {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** Server-relative URL: the page may be served under a path prefix, so resolve against the page. */
export function url(path: string): string {
  return new URL(path.replace(/^\//, ''), document.baseURI).toString();
}

function errorText(body: unknown, fallback: string): string {
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    for (const k of ['detail', 'error', 'message']) {
      const v = b[k];
      if (typeof v === 'string' && v) return v;
      if (Array.isArray(v) && v.length)
        return v.map((x) => (typeof x === 'object' && x && 'msg' in x ? String((x as { msg: unknown }).msg) : String(x))).join('; ');
    }
  }
  return fallback;
}

/** One call; `body` is sent as JSON unless it is FormData. Returns the envelope's `data` (or the bare body). */
export async function call<T = unknown>(path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST'): Promise<T> {
  const headers: Record<string, string> = { ...authHeaders() };
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await fetch(url(path), { method, headers, body: payload });
  } catch (e) {
    throw new ApiError(`cannot reach the server (${(e as Error).message})`, 0);
  }
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    /* a non-JSON body: keep the text for the message */
  }
  if (!res.ok) {
    const msg = errorText(parsed, typeof parsed === 'string' && parsed ? parsed : res.statusText);
    throw new ApiError(res.status === 401 ? `${msg} (set the API key under "Server, models and LoRA")` : msg, res.status);
  }
  if (parsed && typeof parsed === 'object' && 'code' in parsed && 'data' in parsed) {
    const env = parsed as { code: number; data: T; error?: unknown };
    if (env.code !== 200) throw new ApiError(errorText(env, `request failed (code ${env.code})`), env.code);
    return env.data;
  }
  return parsed as T;
}

const blobUrls = new Map<string, Promise<{ blob: Blob; url: string }>>();

/** A generated file fetched with the key (an <audio> element cannot send headers) as a blob URL. */
export function audioBlob(fileUrl: string): Promise<{ blob: Blob; url: string }> {
  let p = blobUrls.get(fileUrl);
  if (!p) {
    p = (async () => {
      const res = await fetch(url(fileUrl), { headers: authHeaders() });
      if (!res.ok) {
        let body: unknown = null;
        try {
          body = await res.json();
        } catch {
          /* not JSON */
        }
        throw new ApiError(
          res.status === 404 ? 'the file is gone from the server' : errorText(body, `audio answered HTTP ${res.status}`),
          res.status,
        );
      }
      const blob = await res.blob();
      return { blob, url: URL.createObjectURL(blob) };
    })();
    p.catch(() => blobUrls.delete(fileUrl));
    blobUrls.set(fileUrl, p);
  }
  return p;
}
