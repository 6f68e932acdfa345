// `npm run demo` on a machine without weights: it says plainly that the tiny random weights make
// noise, prints the one command that downloads the real ones, and still writes a 30 s file.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it, vi } from 'vitest';
import { runDemo } from '../scripts/demo.js';
import { decodeAudio } from '../src/io/audio/index.js';

it('without weights: the noise notice, the download command, and a 30 s song from the tiny weights', async () => {
  const cwd = process.cwd();
  const work = mkdtempSync(join(tmpdir(), 'demo-'));
  const err: string[] = [];
  const out: string[] = [];
  const errSpy = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  const logSpy = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const writeSpy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const prev = process.env.HF_HUB_CACHE;
  process.env.HF_HUB_CACHE = join(work, 'empty-cache');
  process.chdir(work);
  try {
    expect(await runDemo([])).toBe(0);
  } finally {
    process.chdir(cwd);
    if (prev === undefined) delete process.env.HF_HUB_CACHE;
    else process.env.HF_HUB_CACHE = prev;
    errSpy.mockRestore();
    logSpy.mockRestore();
    writeSpy.mockRestore();
  }
  const text = err.join('\n');
  expect(text).toContain(
    `the Hugging Face cache ${join(work, 'empty-cache')} lacks acestep-v15-turbo, vae, Qwen3-Embedding-0.6B, acestep-5Hz-lm-1.7B`,
  );
  expect(text).toContain('tiny RANDOM weights instead: every stage runs, but the audio is noise');
  expect(text).toMatch(/^ {2}npx acestep download$/m);
  const path = /^wrote (\S+) /.exec(out[0])![1];
  const pcm = await decodeAudio(readFileSync(path), path);
  expect(pcm.channels[0].length / pcm.sampleRate).toBeCloseTo(30, 1);
}, 120_000);
