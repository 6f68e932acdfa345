// A Hugging Face Hub stand-in on loopback for the download tests: the revision, tree and resolve
// endpoints as the hub answers them (LFS files by sha256 ETag through a redirect to a blob URL,
// regular files by git blob sha1, Range requests with 206 / Content-Range), plus faults on demand:
// a response cut off after N bytes, or wrong bytes served.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';

export interface HubFile {
  data: Buffer;
  lfs: boolean;
  sha256: string;
  gitSha1: string;
}

export interface HubRepo {
  commit: string;
  files: Map<string, HubFile>;
}

export interface Fault {
  /** Bytes of the body sent before the connection is dropped. */
  cutAfter?: number;
  /** Serve the body with one byte flipped. */
  corrupt?: boolean;
  /** How many requests the fault applies to (default 1). */
  times?: number;
}

export interface LocalHub {
  url: string;
  repos: Map<string, HubRepo>;
  /** Every request seen: method, path and the headers that matter. */
  log: { path: string; range: string | undefined; auth: string | undefined }[];
  /** Faults by file path (as in the repo), applied to resolve/blob downloads. */
  faults: Map<string, Fault>;
  close(): Promise<void>;
}

export function hubFile(data: Buffer, lfs: boolean): HubFile {
  return {
    data,
    lfs,
    sha256: createHash('sha256').update(data).digest('hex'),
    gitSha1: createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex'),
  };
}

/** A repo from folders on disk: `{ 'sub/dir': '/abs/folder' }` ('' = the repo root); weights are LFS files. */
export function repoFromFolders(folders: Record<string, string>, commit: string): HubRepo {
  const files = new Map<string, HubFile>();
  for (const [prefix, dir] of Object.entries(folders)) {
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        if (statSync(p).isDirectory()) walk(p);
        else {
          const rel = relative(dir, p).split('\\').join('/');
          files.set(prefix ? `${prefix}/${rel}` : rel, hubFile(readFileSync(p), /\.(safetensors|pt|bin)$/.test(name)));
        }
      }
    };
    walk(dir);
  }
  return { commit, files };
}

export async function startLocalHub(repos: Record<string, HubRepo>, opts: { token?: string } = {}): Promise<LocalHub> {
  const hub: Omit<LocalHub, 'url' | 'close'> = { repos: new Map(Object.entries(repos)), log: [], faults: new Map() };
  const server: Server = createServer((req, res) => handle(hub, opts.token, req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    ...hub,
    url,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function notFound(res: ServerResponse, code: string): void {
  json(res, 404, { error: code }, { 'x-error-code': code });
}

function revisionOf(repo: HubRepo, rev: string): boolean {
  return rev === 'main' || rev === repo.commit;
}

function handle(hub: Omit<LocalHub, 'url' | 'close'>, token: string | undefined, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const path = decodeURIComponent(url.pathname);
  const auth = req.headers.authorization;
  hub.log.push({ path, range: req.headers.range, auth });
  if (token && auth !== `Bearer ${token}`) return json(res, 401, { error: 'Invalid credentials' }, { 'x-error-code': 'GatedRepo' });

  let m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(path);
  if (m) {
    const repo = hub.repos.get(m[1]);
    if (!repo) return notFound(res, 'RepoNotFound');
    if (!revisionOf(repo, m[2])) return notFound(res, 'RevisionNotFound');
    return json(res, 200, {
      _id: 'x',
      id: m[1],
      sha: repo.commit,
      lastModified: '2026-01-01T00:00:00.000Z',
      siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })),
    });
  }
  m = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)(?:\/(.*))?$/.exec(path);
  if (m) {
    const repo = hub.repos.get(m[1]);
    if (!repo) return notFound(res, 'RepoNotFound');
    if (!revisionOf(repo, m[2])) return notFound(res, 'RevisionNotFound');
    const prefix = m[3] ? `${m[3]}/` : '';
    const entries = [...repo.files.entries()]
      .filter(([p]) => p.startsWith(prefix))
      .map(([p, f]) => ({
        type: 'file',
        oid: f.gitSha1,
        size: f.data.length,
        path: p,
        ...(f.lfs ? { lfs: { oid: f.sha256, size: f.data.length, pointerSize: 134 } } : {}),
      }));
    if (entries.length === 0) return notFound(res, 'EntryNotFound');
    return json(res, 200, entries);
  }
  m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
  if (m) {
    const repo = hub.repos.get(m[1]);
    const file = repo?.files.get(m[3]);
    if (!repo || !revisionOf(repo, m[2]) || !file) return notFound(res, 'EntryNotFound');
    const headers = { 'x-repo-commit': repo.commit };
    if (file.lfs) {
      // LFS content lives elsewhere: the hub redirects, and names the blob by its sha256.
      res.writeHead(302, {
        ...headers,
        location: `/blobs/${m[1]}/${m[3]}`,
        'x-linked-etag': `"${file.sha256}"`,
        'x-linked-size': String(file.data.length),
      });
      return void res.end();
    }
    return sendBody(hub, m[3], file, req, res, { ...headers, etag: `"${file.gitSha1}"` });
  }
  m = /^\/blobs\/([^/]+\/[^/]+)\/(.+)$/.exec(path);
  if (m) {
    const file = hub.repos.get(m[1])?.files.get(m[2]);
    if (!file) return notFound(res, 'EntryNotFound');
    return sendBody(hub, m[2], file, req, res, { etag: `"${file.sha256}"` });
  }
  notFound(res, 'NotFound');
}

function sendBody(
  hub: Omit<LocalHub, 'url' | 'close'>,
  path: string,
  file: HubFile,
  req: IncomingMessage,
  res: ServerResponse,
  headers: Record<string, string>,
): void {
  const size = file.data.length;
  let start = 0;
  let end = size - 1;
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  if (range) {
    start = Number(range[1]);
    end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    if (start >= size) {
      res.writeHead(416, { 'content-range': `bytes */${size}` });
      return void res.end();
    }
  }
  let body = file.data.subarray(start, end + 1);
  // A probe of the first byte (fileDownloadInfo) is no transfer: faults apply to real reads.
  const fault = hub.faults.get(path);
  if (fault && end > start && (fault.times ?? 1) > 0) {
    fault.times = (fault.times ?? 1) - 1;
    if (fault.corrupt) {
      body = Buffer.from(body);
      body[body.length >> 1] ^= 0xff;
    }
    if (fault.cutAfter !== undefined) {
      res.writeHead(range ? 206 : 200, {
        ...headers,
        'accept-ranges': 'bytes',
        'content-length': String(body.length),
        ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
      });
      res.write(body.subarray(0, fault.cutAfter), () => res.socket?.destroy());
      return;
    }
  }
  res.writeHead(range ? 206 : 200, {
    ...headers,
    'accept-ranges': 'bytes',
    'content-length': String(body.length),
    ...(range ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
  });
  res.end(body);
}
