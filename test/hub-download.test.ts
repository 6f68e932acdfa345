// `acestep download` against a Hugging Face Hub stand-in on loopback (test/support/local-hub.ts):
// the official repo layout (the main repo's sub-folders and a separately published model), the
// standard cache layout written as huggingface_hub writes it and found again by the engine, a
// transfer cut off mid-file and resumed with a Range request, corrupted blobs (on disk and on the
// wire) fetched again, HF_TOKEN / HF_ENDPOINT / HF_HUB_CACHE honoured.
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, readdirSync, mkdtempSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoints } from '../scripts/make-tiny-checkpoints.js';
import { AceStep, CheckpointError } from '../src/index.js';
import { hubCacheDir, hubCacheSource, repoCacheDir, snapshotDir } from '../src/io/hub-cache.js';
import { DownloadError, downloadModels, type DownloadProgress } from '../src/io/hub-download.js';
import { repoFromFolders, startLocalHub, type LocalHub } from './support/local-hub.js';

const MAIN = 'ACE-Step/Ace-Step1.5';
const BASE = 'ACE-Step/acestep-v15-base';
const COMMIT = 'a'.repeat(39) + '1';
const TOKEN = 'hf_localtesttoken';
let ckpt: string;
let hub: LocalHub;
const fresh = () => mkdtempSync(join(tmpdir(), 'hub-cache-'));
const opts = (cacheDir: string, extra: object = {}) => ({ cacheDir, endpoint: hub.url, token: TOKEN, ...extra });
const DIT_WEIGHTS = 'acestep-v15-turbo/model.safetensors';

beforeAll(async () => {
  ckpt = makeTinyCheckpoints(join(mkdtempSync(join(tmpdir(), 'hub-src-')), 'ckpt'));
  hub = await startLocalHub(
    {
      [MAIN]: repoFromFolders(
        {
          'acestep-v15-turbo': join(ckpt, 'acestep-v15-turbo'),
          vae: join(ckpt, 'vae'),
          'Qwen3-Embedding-0.6B': join(ckpt, 'Qwen3-Embedding-0.6B'),
          'acestep-5Hz-lm-1.7B': join(ckpt, 'acestep-5Hz-lm-0.6B'),
        },
        COMMIT,
      ),
      [BASE]: repoFromFolders({ '': join(ckpt, 'acestep-v15-base') }, 'b'.repeat(40)),
    },
    { token: TOKEN },
  );
});
afterAll(() => hub?.close());

const sha256 = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

describe('downloadModels', () => {
  it('writes the huggingface_hub cache layout; the engine loads from it with no checkpoint root', async () => {
    const cache = fresh();
    const events: DownloadProgress[] = [];
    const got = await downloadModels(
      ['acestep-v15-turbo', 'vae', 'Qwen3-Embedding-0.6B', 'acestep-5Hz-lm-1.7B', 'acestep-v15-base'],
      opts(cache, { onProgress: (e: DownloadProgress) => events.push(e) }),
    );
    const base = repoCacheDir(cache, MAIN);
    expect(base).toBe(join(cache, 'models--ACE-Step--Ace-Step1.5'));
    expect(readFileSync(join(base, 'refs', 'main'), 'utf8')).toBe(COMMIT);
    expect(got[0].dir).toBe(join(base, 'snapshots', COMMIT, 'acestep-v15-turbo'));
    // Every file of the repo is a relative link to blobs/<etag>: sha256 for LFS, git sha1 otherwise.
    for (const [path, f] of hub.repos.get(MAIN)!.files) {
      const link = join(base, 'snapshots', COMMIT, path);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(readlinkSync(link)).toMatch(new RegExp(`^(\\.\\./)+blobs/${f.lfs ? f.sha256 : f.gitSha1}$`));
      expect(readFileSync(link).equals(f.data)).toBe(true);
    }
    // The separately published model sits at its repo's root.
    expect(got[4].dir).toBe(join(repoCacheDir(cache, BASE), 'snapshots', 'b'.repeat(40)));
    expect(sha256(join(got[4].dir, 'model.safetensors'))).toBe(sha256(join(ckpt, 'acestep-v15-base', 'model.safetensors')));
    // Progress ends at the model's total, never goes past it, and bytes arrive monotonically.
    const dit = events.filter((e) => e.model === 'acestep-v15-turbo');
    const total = [...hub.repos.get(MAIN)!.files]
      .filter(([p]) => p.startsWith('acestep-v15-turbo/'))
      .reduce((s, [, f]) => s + f.data.length, 0);
    expect(dit.at(-1)).toMatchObject({ kind: 'done', doneBytes: total, totalBytes: total });
    for (let i = 1; i < dit.length; i++) expect(dit[i].doneBytes).toBeGreaterThanOrEqual(dit[i - 1].doneBytes);
    expect(hub.log.every((r) => r.auth === `Bearer ${TOKEN}`)).toBe(true);

    const src = hubCacheSource(cache);
    expect(src.find('vae')).toBe(join(base, 'snapshots', COMMIT, 'vae'));
    expect(src.find('acestep-5Hz-lm-4B')).toBeNull();
    // The tiny tokenizers derive from one shared base folder beside the models (the official ones
    // carry theirs inline); put it where their derive.json points.
    cpSync(join(ckpt, 'qwen3-tokenizer'), join(base, 'snapshots', COMMIT, 'qwen3-tokenizer'), { recursive: true });
    const prev = process.env.HF_HUB_CACHE;
    process.env.HF_HUB_CACHE = cache;
    try {
      const engine = await AceStep.load({ device: 'cpu', lmMaxModelLen: 1024 });
      expect(engine.ditDir).toBe(got[0].dir);
      expect(engine.lmDir).toBe(join(base, 'snapshots', COMMIT, 'acestep-5Hz-lm-1.7B'));
      engine.dispose();
    } finally {
      if (prev === undefined) delete process.env.HF_HUB_CACHE;
      else process.env.HF_HUB_CACHE = prev;
    }

    // A second run verifies what is there and transfers nothing.
    const before = hub.log.length;
    const again = await downloadModels(['acestep-v15-turbo'], opts(cache));
    expect(again[0].fetchedBytes).toBe(0);
    expect(hub.log.slice(before).every((r) => r.path.startsWith('/api/'))).toBe(true);
  });

  it('resumes a download cut off mid-file from its .incomplete part with a Range request', async () => {
    const cache = fresh();
    const file = hub.repos.get(MAIN)!.files.get(DIT_WEIGHTS)!;
    const cut = Math.floor(file.data.length / 3);
    hub.faults.set(DIT_WEIGHTS, { cutAfter: cut });
    await expect(downloadModels(['acestep-v15-turbo'], opts(cache, { retries: 0 }))).rejects.toThrow(DownloadError);
    const part = join(repoCacheDir(cache, MAIN), 'blobs', `${file.sha256}.incomplete`);
    expect(statSync(part).size).toBe(cut);
    const blobs = join(repoCacheDir(cache, MAIN), 'blobs');
    const completed = readdirSync(blobs)
      .filter((n) => !n.endsWith('.incomplete'))
      .reduce((s, n) => s + statSync(join(blobs, n)).size, 0);

    const before = hub.log.length;
    const [r] = await downloadModels(['acestep-v15-turbo'], opts(cache));
    const ranges = hub.log
      .slice(before)
      .filter((q) => q.path.endsWith(DIT_WEIGHTS) && q.path.startsWith('/blobs/'))
      .map((q) => q.range);
    expect(ranges).toContain(`bytes=${cut}-${file.data.length - 1}`);
    const total = [...hub.repos.get(MAIN)!.files]
      .filter(([p]) => p.startsWith('acestep-v15-turbo/'))
      .reduce((s, [, f]) => s + f.data.length, 0);
    expect(r.fetchedBytes).toBe(total - cut - completed); // only what the first call did not get
    expect(existsSync(part)).toBe(false);
    expect(sha256(join(r.dir, 'model.safetensors'))).toBe(file.sha256);
  });

  it('within one call, retries a cut-off transfer from where it stopped', async () => {
    const cache = fresh();
    const file = hub.repos.get(MAIN)!.files.get(DIT_WEIGHTS)!;
    hub.faults.set(DIT_WEIGHTS, { cutAfter: 1000, times: 2 });
    const [r] = await downloadModels(['acestep-v15-turbo'], opts(cache));
    expect(sha256(join(r.dir, 'model.safetensors'))).toBe(file.sha256);
  });

  it('fetches a corrupted blob again: on disk, and on the wire', async () => {
    const cache = fresh();
    const [r] = await downloadModels(['vae'], opts(cache));
    const file =
      hub.repos.get(MAIN)!.files.get('vae/diffusion_pytorch_model.safetensors') ??
      [...hub.repos.get(MAIN)!.files].find(([p, f]) => p.startsWith('vae/') && f.lfs)![1];
    const blob = join(repoCacheDir(cache, MAIN), 'blobs', file.sha256);
    const bytes = readFileSync(blob);
    bytes[bytes.length >> 1] ^= 0x01; // same size, one bit off
    writeFileSync(blob, bytes);
    const [again] = await downloadModels(['vae'], opts(cache));
    expect(again.fetchedBytes).toBe(file.data.length);
    expect(sha256(blob)).toBe(file.sha256);
    expect(again.dir).toBe(r.dir);

    // Wrong bytes from the server once: fetched again; every time: a DownloadError naming the hash.
    const path = [...hub.repos.get(MAIN)!.files].find(([, f]) => f === file)![0];
    const cache2 = fresh();
    hub.faults.set(path, { corrupt: true, times: 1 });
    await downloadModels(['vae'], opts(cache2));
    expect(sha256(join(repoCacheDir(cache2, MAIN), 'blobs', file.sha256))).toBe(file.sha256);
    hub.faults.set(path, { corrupt: true, times: 100 });
    await expect(downloadModels(['vae'], opts(fresh(), { retries: 1 }))).rejects.toThrow(
      new RegExp(`does not match the hub's sha256 ${file.sha256}`),
    );
    hub.faults.delete(path);
  });

  it('HF_ENDPOINT and HF_TOKEN from the environment; bad token, unknown name and missing repo are DownloadErrors', async () => {
    const cache = fresh();
    const env = { HF_ENDPOINT: process.env.HF_ENDPOINT, HF_TOKEN: process.env.HF_TOKEN };
    process.env.HF_ENDPOINT = hub.url;
    process.env.HF_TOKEN = TOKEN;
    try {
      const [r] = await downloadModels(['vae'], { cacheDir: cache });
      expect(existsSync(join(r.dir, 'config.json'))).toBe(true);
      process.env.HF_TOKEN = 'hf_wrong';
      await expect(downloadModels(['vae'], { cacheDir: fresh() })).rejects.toThrow(/revision lookup failed/);
    } finally {
      for (const [k, v] of Object.entries(env))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
    await expect(downloadModels(['acestep-v16'], opts(cache))).rejects.toThrow(
      /unknown model 'acestep-v16'; official models: acestep-v15-turbo/,
    );
    await expect(downloadModels(['acestep-5Hz-lm-4B'], opts(cache))).rejects.toThrow(/ACE-Step\/acestep-5Hz-lm-4B: revision lookup failed/);
  });
});

describe('hub cache lookup', () => {
  it('HF_HUB_CACHE, else HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub', () => {
    expect(hubCacheDir({ HF_HUB_CACHE: '/a/b', HF_HOME: '/c' })).toBe('/a/b');
    expect(hubCacheDir({ HF_HOME: '/c' })).toBe('/c/hub');
    expect(hubCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/huggingface/hub');
  });

  it('an empty cache: AceStep.load says which model is missing and the command that gets it', async () => {
    const cache = fresh();
    expect(snapshotDir(cache, MAIN)).toBeNull();
    const prev = process.env.HF_HUB_CACHE;
    process.env.HF_HUB_CACHE = cache;
    try {
      const err = await AceStep.load({ device: 'cpu' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CheckpointError);
      expect((err as Error).message).toContain(`${cache}: no DiT folder (looked for acestep-v15-turbo`);
      expect((err as Error).message).toContain('get it with `npx acestep download acestep-v15-turbo`');
    } finally {
      if (prev === undefined) delete process.env.HF_HUB_CACHE;
      else process.env.HF_HUB_CACHE = prev;
    }
  });

  it('with a checkpoint root, a missing folder names the root and no download hint', async () => {
    const missingRoot = await AceStep.load({ checkpoints: join(tmpdir(), 'no-such-acestep-root'), device: 'cpu' }).catch((e: unknown) => e);
    expect((missingRoot as Error).message).toBe(`${join(tmpdir(), 'no-such-acestep-root')}: checkpoint root folder does not exist`);
    const named = await AceStep.load({ checkpoints: ckpt, ditModel: 'acestep-v15-nope', device: 'cpu' }).catch((e: unknown) => e);
    expect(named).toBeInstanceOf(CheckpointError);
    expect((named as Error).message).toBe(`${ckpt}: DiT folder 'acestep-v15-nope' does not exist`);
  });
});
