// Downloads official models from the Hugging Face Hub (through @huggingface/hub: the revision and
// tree endpoints, then `resolve` with Range requests) into the standard cache layout that
// huggingface_hub writes: `blobs/<etag>` (sha256 for LFS files, git blob sha1 otherwise),
// `snapshots/<commit>/<path>` links to them and `refs/<branch>`. A cut-off file resumes from its
// `.incomplete` part; every blob is checked against the hub's size and hash, and a blob that fails
// the check (corrupted on disk, or by the transfer) is fetched again.
import { createHash } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  createReadStream,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { downloadFile, listFiles, modelInfo, type ListFileEntry } from '@huggingface/hub';
import { AcestepError } from '../runtime/errors.js';
import { hubCacheDir, OFFICIAL_MODELS, repoCacheDir } from './hub-cache.js';

/** A download that could not complete: network, the hub's answer, or a file that fails verification. */
export class DownloadError extends AcestepError {
  constructor(message: string) {
    super(message, 'ERR_DOWNLOAD');
  }
}

export interface DownloadProgress {
  model: string;
  file: string;
  /** Bytes of this model present so far (cached, resumed and received). */
  doneBytes: number;
  totalBytes: number;
  /** 'file' = a file starts, 'bytes' = bytes arrived, 'done' = the model is complete. */
  kind: 'file' | 'bytes' | 'done';
}

export interface DownloadOptions {
  /** Hub cache folder (default: HF_HUB_CACHE / HF_HOME / ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Hub URL (default: HF_ENDPOINT or https://huggingface.co). */
  endpoint?: string;
  /** Access token (default: HF_TOKEN). */
  token?: string;
  /** Branch or commit (default main). */
  revision?: string;
  /** Extra tries per file after a failed transfer, each resuming where the last stopped (default 3). */
  retries?: number;
  onProgress?: (e: DownloadProgress) => void;
  fetch?: typeof fetch;
}

export interface DownloadedModel {
  name: string;
  repo: string;
  commit: string;
  /** The model's folder inside the snapshot. */
  dir: string;
  /** Bytes actually transferred in this call. */
  fetchedBytes: number;
}

/** What the hub says a file must be. */
interface Expected {
  path: string;
  size: number;
  /** Blob name in the cache: sha256 (LFS) or git blob sha1. */
  etag: string;
  algo: 'sha256' | 'git-sha1';
}

function expected(e: ListFileEntry): Expected {
  if (e.lfs) return { path: e.path, size: e.lfs.size, etag: e.lfs.oid, algo: 'sha256' };
  if (!e.oid) throw new DownloadError(`the hub gave no hash for ${e.path}`);
  return { path: e.path, size: e.size, etag: e.oid, algo: 'git-sha1' };
}

async function hashFile(path: string, algo: Expected['algo'], size: number): Promise<string> {
  const h = createHash(algo === 'sha256' ? 'sha256' : 'sha1');
  if (algo === 'git-sha1') h.update(`blob ${size}\0`);
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** True when `path` holds exactly the expected bytes. */
async function verified(path: string, want: Expected): Promise<boolean> {
  if (!existsSync(path) || statSync(path).size !== want.size) return false;
  return (await hashFile(path, want.algo, want.size)) === want.etag;
}

function link(blob: string, target: string): void {
  mkdirSync(dirname(target), { recursive: true });
  const rel = relative(dirname(target), blob);
  try {
    if (lstatSync(target).isSymbolicLink() && readlinkSync(target) === rel) return;
    rmSync(target, { force: true });
  } catch {
    // no link yet
  }
  try {
    symlinkSync(rel, target);
  } catch {
    copyFileSync(blob, target); // file systems without symlinks (huggingface_hub does the same)
  }
}

interface Ctx {
  hubUrl: string;
  accessToken?: string;
  fetch?: typeof fetch;
}

/** Appends the missing bytes of `want` to `part`; throws on a failed transfer (the part stays). */
async function fetchInto(
  ctx: Ctx,
  repo: string,
  commit: string,
  want: Expected,
  part: string,
  onBytes: (n: number) => void,
): Promise<void> {
  let have = existsSync(part) ? statSync(part).size : 0;
  if (have > want.size) {
    rmSync(part);
    have = 0;
  }
  if (have === want.size) return;
  const blob = await downloadFile({
    repo,
    path: want.path,
    revision: commit,
    hubUrl: ctx.hubUrl,
    accessToken: ctx.accessToken,
    fetch: ctx.fetch,
    xet: false,
  });
  if (!blob) throw new DownloadError(`${repo}: ${want.path} is not on the hub at ${commit}`);
  if (blob.size !== want.size)
    throw new DownloadError(`${repo}: ${want.path} is ${blob.size} bytes on the hub, its listing says ${want.size}`);
  const fd = openSync(part, 'a');
  try {
    const reader = blob.slice(have).stream().getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      writeSync(fd, value);
      have += value.byteLength;
      onBytes(value.byteLength);
    }
  } finally {
    closeSync(fd);
  }
  if (have !== want.size) throw new DownloadError(`${repo}: ${want.path} ended after ${have} of ${want.size} bytes`);
}

/**
 * Downloads official models by folder name (see OFFICIAL_MODELS) into the hub cache; models already
 * there are verified and kept. Resolves to each model's folder.
 */
export async function downloadModels(names: readonly string[], o: DownloadOptions = {}): Promise<DownloadedModel[]> {
  const unknown = names.filter((n) => !(n in OFFICIAL_MODELS));
  if (unknown.length)
    throw new DownloadError(
      `unknown model ${unknown.map((n) => `'${n}'`).join(', ')}; official models: ${Object.keys(OFFICIAL_MODELS).join(', ')}`,
    );
  const cacheDir = o.cacheDir ?? hubCacheDir();
  const token = o.token ?? process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN;
  const ctx: Ctx = {
    hubUrl: (o.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, ''),
    accessToken: token || undefined,
    fetch: o.fetch,
  };
  const revision = o.revision ?? 'main';
  const retries = o.retries ?? 3;
  const commits = new Map<string, string>();
  const out: DownloadedModel[] = [];
  for (const name of names) {
    const { repo, path } = OFFICIAL_MODELS[name];
    // A hub call; a dropped connection (no HTTP answer) is tried again, an HTTP error is final.
    const hub = async <T>(what: string, f: () => Promise<T>, tries = retries): Promise<T> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await f();
        } catch (e) {
          if (e instanceof DownloadError) throw e;
          const dropped = e instanceof TypeError && (e as Error).message === 'fetch failed';
          if (dropped && attempt < tries) continue;
          const cause = (e as { cause?: { message?: string } }).cause?.message;
          throw new DownloadError(
            `${repo}: ${what} failed at ${ctx.hubUrl}: ${(e as Error).message}${cause ? ` (${cause})` : ''}${token ? '' : ' (set HF_TOKEN if the repo needs a login)'}`,
          );
        }
      }
    };
    let commit = commits.get(repo);
    if (!commit) {
      const info = await hub('revision lookup', () =>
        modelInfo({ name: repo, revision, hubUrl: ctx.hubUrl, accessToken: ctx.accessToken, fetch: ctx.fetch, additionalFields: ['sha'] }),
      );
      commit = String((info as { sha?: string }).sha ?? '');
      if (!/^[0-9a-f]{40}$/.test(commit)) throw new DownloadError(`${repo}: the hub gave no commit for '${revision}'`);
      commits.set(repo, commit);
    }
    const files: Expected[] = [];
    await hub('file listing', async () => {
      files.length = 0; // a retried listing starts over
      for await (const e of listFiles({
        repo,
        revision: commit,
        path: path || undefined,
        recursive: true,
        hubUrl: ctx.hubUrl,
        accessToken: ctx.accessToken,
        fetch: ctx.fetch,
      })) {
        if (e.type === 'file') files.push(expected(e));
      }
    });
    if (files.length === 0) throw new DownloadError(`${repo}: no files under '${path || '/'}' at ${commit}`);
    const base = repoCacheDir(cacheDir, repo);
    const snapshot = join(base, 'snapshots', commit);
    const totalBytes = files.reduce((s, f) => s + f.size, 0);
    let doneBytes = 0;
    let fetchedBytes = 0;
    const tell = (file: string, kind: DownloadProgress['kind']) => o.onProgress?.({ model: name, file, doneBytes, totalBytes, kind });
    for (const f of files) {
      const start = doneBytes;
      tell(f.path, 'file');
      const blob = join(base, 'blobs', f.etag);
      mkdirSync(dirname(blob), { recursive: true });
      if (!(await verified(blob, f))) {
        rmSync(blob, { force: true });
        const part = `${blob}.incomplete`;
        for (let attempt = 0; ; attempt++) {
          const before = existsSync(part) ? statSync(part).size : 0;
          doneBytes = start + before;
          try {
            // Transfer retries happen here (resuming), not inside hub().
            await hub(
              `download of ${f.path}`,
              () =>
                fetchInto(ctx, repo, commit!, f, part, (n) => {
                  doneBytes += n;
                  fetchedBytes += n;
                  tell(f.path, 'bytes');
                }),
              0,
            );
          } catch (e) {
            if (attempt >= retries) throw e;
            continue;
          }
          if (await verified(part, f)) break;
          rmSync(part, { force: true }); // wrong bytes: start this file over
          if (attempt >= retries)
            throw new DownloadError(`${repo}: ${f.path} does not match the hub's ${f.algo} ${f.etag} after ${attempt + 1} tries`);
        }
        renameSync(part, blob);
      }
      doneBytes = start + f.size;
      link(blob, join(snapshot, f.path));
    }
    if (!/^[0-9a-f]{40}$/.test(revision)) {
      mkdirSync(join(base, 'refs'), { recursive: true });
      writeFileSync(join(base, 'refs', revision), commit);
    }
    doneBytes = totalBytes;
    tell('', 'done');
    out.push({ name, repo, commit, dir: path ? join(snapshot, path) : snapshot, fetchedBytes });
  }
  return out;
}
