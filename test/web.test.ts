// The web page end to end: a real headless Chromium (@sparticuz/chromium through playwright-core)
// against the page served by `acestep serve` (the compiled CLI, a child process) on the tiny
// checkpoints. Simple mode with the LM writing the song, Custom mode (every field checked in the
// request and on the song card), Cover, Repaint with a range dragged on the waveform, Lego and
// Complete, cancel, reload mid-job and resume, an API key, phone width and keyboard. The audio a
// card offers for download is compared byte for byte with the server's file. Screenshots of each
// mode go to test-output/web/.
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import chromium from '@sparticuz/chromium';
import { chromium as playwright, type BrowserContext, type Page, type Request } from 'playwright-core';
import { build } from 'vite';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { writeSafetensors } from '../src/io/safetensors.js';
import { query, ROOT, spawnCli, tinyCheckpoints, writeTone, type Child } from './support/server.js';

const SHOTS = join(ROOT, 'test-output', 'web');
const KEY = 'web-test-key-7Q';

let dir: string;
let ckpt: string;
let context: BrowserContext;
const pageErrors: string[] = [];
const servers: Child[] = [];

/** The native addon for the child when it is not found upwards of dist/ (a nested checkout). */
function addonEnv(): Record<string, string> {
  if (process.env.ACESTEP_ADDON) return {};
  for (let d = ROOT; d !== dirname(d); d = dirname(d)) {
    const p = join(d, 'build', 'Release', 'acestep.node');
    if (existsSync(p)) return { ACESTEP_ADDON: p };
  }
  return {};
}

async function startServe(name: string, extra: string[] = []): Promise<string> {
  const child = spawnCli(
    ['serve', '--checkpoints', ckpt, '--port', '0', '--data-dir', join(dir, name), '--device', 'cpu', ...extra],
    addonEnv(),
  );
  servers.push(child);
  const m = await child.waitFor(/listening on (http:\/\/\S+)/, 90_000);
  return m[1];
}

/** The page as `npm run build:web` builds it, so the test sees the current web/ sources. */
async function buildPage(): Promise<void> {
  await build({ configFile: join(ROOT, 'web', 'vite.config.ts'), logLevel: 'warn' });
}

let base: string;
let userData: string;

beforeAll(async () => {
  ({ dir, ckpt } = tinyCheckpoints());
  await buildPage();
  mkdirSync(SHOTS, { recursive: true });
  base = await startServe('plain');
  userData = mkdtempSync(join(tmpdir(), 'acestep-chromium-'));
  context = await playwright.launchPersistentContext(userData, {
    executablePath: await chromium.executablePath(),
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 1000 },
  });
  context.setDefaultTimeout(10_000);
}, 240_000);

afterEach(async () => {
  // A failed test leaves its tab open; close it so it cannot write to the next test's storage.
  for (const p of context.pages()) await p.close();
  expect(pageErrors.splice(0)).toEqual([]);
});

afterAll(async () => {
  await context?.close();
  for (const s of servers) await s.kill9();
  for (const d of [dir, userData]) if (d) rmSync(d, { recursive: true, force: true });
});

/** A fresh tab on the page in `mode`, with this origin's storage cleared unless `keep`. */
async function open(mode: string, origin = base, keep = false): Promise<Page> {
  const page = await context.newPage();
  await page.addInitScript(RECORD_FORMS);
  page.on('pageerror', (e) => pageErrors.push(`${mode}: ${e.message}`));
  await page.goto(`${origin}/#${mode}`);
  if (!keep) {
    await page.evaluate(() => localStorage.clear());
    await page.reload();
  }
  await expect.poll(() => page.locator('#health').textContent(), { timeout: 15_000 }).toMatch(/Connected/);
  return page;
}

async function moreSettings(page: Page): Promise<void> {
  if (!(await page.locator('#more').evaluate((d) => (d as HTMLDetailsElement).open))) await page.getByText('More settings').click();
}

/** Loads a DiT model through the page's model picker. */
async function loadDit(page: Page, name: string): Promise<void> {
  await page.getByText('Server, models and LoRA', { exact: true }).click();
  await page.getByLabel('Music model (DiT)').selectOption(name);
  await page.getByRole('button', { name: 'Load models' }).click();
  await expect.poll(() => page.locator('#dit-model').inputValue(), { timeout: 60_000 }).toBe(name);
  await expect.poll(() => page.locator('#dit-model option:checked').textContent(), { timeout: 60_000 }).toBe(`${name} (loaded)`);
  await page.getByText('Server, models and LoRA', { exact: true }).click();
}

/**
 * Short jobs: `seconds` of audio, 2 steps, WAV, one song, no thinking, and no LM at all: with
 * thinking off the LM still writes whatever metadata is left open (as upstream), so BPM, key and
 * time signature are given unless already set.
 */
async function quick(page: Page, seconds = 6, batch = 1, steps = 2): Promise<void> {
  await moreSettings(page);
  if ((await page.getByLabel('BPM').inputValue()) === '') await page.getByLabel('BPM').fill('100');
  if ((await page.getByLabel('Key', { exact: true }).inputValue()) === '') await page.getByLabel('Key', { exact: true }).fill('C major');
  if ((await page.getByLabel('Time signature').inputValue()) === '') await page.getByLabel('Time signature').selectOption('4');
  await page.getByLabel('Duration (s)').fill(String(seconds));
  await page.getByLabel('Steps').fill(String(steps));
  await page.getByLabel('Songs per run').fill(String(batch));
  await page.getByLabel('File format').selectOption('wav');
  await page.getByLabel(/Thinking/).setChecked(false);
}

async function setRange(page: Page, label: string | RegExp, value: number): Promise<void> {
  await page.getByLabel(label).evaluate((el, v) => {
    (el as HTMLInputElement).value = String(v);
    el.dispatchEvent(new Event('input', { bubbles: true }));
  }, value);
}

/** Presses Generate (or Run) and returns the /release_task request the page sent. */
async function generate(page: Page): Promise<Request> {
  const req = page.waitForRequest((r) => r.url().endsWith('/release_task'));
  // Enter on the focused button, as a keyboard user submits (a pointer click after a full-page
  // screenshot can land at a stale position).
  await page.locator('#generate').press('Enter');
  try {
    return await req;
  } catch (e) {
    await page.screenshot({ path: join(SHOTS, 'failed-submit.png'), fullPage: true });
    throw new Error(`no /release_task request; the page says: ${await page.locator('#submit-status').textContent()}`, { cause: e });
  }
}

/** Waits until `n` song cards exist and the newest has its waveform and download link. */
async function songsDone(page: Page, n: number, timeout = 60_000): Promise<void> {
  await expect.poll(() => page.locator('#songs > li').count(), { timeout }).toBe(n);
  const card = page.locator('#songs > li').first();
  await expect.poll(() => card.locator('.wave.drawn').count(), { timeout: 15_000 }).toBe(1);
  await expect.poll(() => card.getByRole('link', { name: /^Download/ }).getAttribute('href'), { timeout: 15_000 }).toMatch(/^blob:/);
}

/** The card's metadata as { Seed: '42', BPM: '120', ... }. */
async function cardMeta(page: Page, i = 0): Promise<Record<string, string>> {
  return page
    .locator('#songs > li')
    .nth(i)
    .locator('dl.meta')
    .evaluate((dl) =>
      Object.fromEntries(
        [...dl.querySelectorAll('div')].map((d) => [d.querySelector('dt')!.textContent!, d.querySelector('dd')!.textContent!]),
      ),
    );
}

/** The card's downloadable bytes equal the server's file (fetched here, with the key when given). */
async function expectDownloadMatchesServer(page: Page, origin: string, key?: string, i = 0): Promise<number> {
  const card = page.locator('#songs > li').nth(i);
  const file = await card.evaluate(
    (li) =>
      JSON.parse(localStorage.getItem('acestep.songs')!).find((s: { id: string }) => s.id === (li as HTMLElement).dataset.song)
        .file as string,
  );
  const inPage = await card
    .getByRole('link', { name: /^Download/ })
    .evaluate(async (a) => Array.from(new Uint8Array(await (await fetch((a as HTMLAnchorElement).href)).arrayBuffer())));
  const res = await fetch(origin + file, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
  expect(res.status).toBe(200);
  const server = new Uint8Array(await res.arrayBuffer());
  expect(inPage.length).toBe(server.length);
  expect(Buffer.from(inPage).equals(Buffer.from(server))).toBe(true);
  expect(Buffer.from(server.subarray(0, 4)).toString()).toBe('RIFF');
  return server.length;
}

/**
 * Chromium does not hand blob-backed multipart bodies to the driver, so the page's fetch is
 * wrapped: each FormData body sent to /release_task is kept as its fields (a file as
 * `file:<first 4 bytes>:<size>`) in window.__forms.
 */
const RECORD_FORMS = `(() => {
  const orig = window.fetch;
  window.__forms = [];
  window.fetch = async (input, init) => {
    if (init && init.body instanceof FormData && String(input).endsWith('/release_task')) {
      const f = {};
      for (const [k, v] of init.body.entries()) f[k] = typeof v === 'string' ? v : 'file:' + (await v.slice(0, 4).text()) + ':' + v.size;
      window.__forms.push(f);
    }
    return orig(input, init);
  };
})()`;

/** The fields of the multipart /release_task the page sent last. */
async function lastForm(page: Page): Promise<Record<string, string>> {
  return page.evaluate(() => (window as unknown as { __forms: Record<string, string>[] }).__forms.at(-1)!);
}

/** The server's `generation_info` of the newest card's job (it names the task type it ran). */
async function serverInfo(page: Page, origin = base): Promise<string> {
  const id = (await page.locator('#songs > li').first().getAttribute('data-song'))!.split('#')[0];
  const [q] = await query(origin, [id]);
  return JSON.parse(q.result)[0].generation_info as string;
}

/** A rank-2 PEFT adapter on the self-attention q/v projections of the tiny DiT (hidden 64, kv 32, 4 layers). */
function writeTinyAdapter(path: string): string {
  mkdirSync(path, { recursive: true });
  writeFileSync(
    join(path, 'adapter_config.json'),
    JSON.stringify({ peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['q_proj', 'v_proj'] }),
  );
  const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
  const ramp = (shape: number[], phase: number) => ({
    dtype: 'F32' as const,
    shape,
    data: Float32Array.from({ length: shape[0] * shape[1] }, (_, i) => 0.4 * Math.cos(0.37 * i + phase)),
  });
  for (let l = 0; l < 4; l++) {
    for (const [proj, out] of [
      ['q', 64],
      ['v', 32],
    ] as const) {
      tensors[`base_model.model.layers.${l}.self_attn.${proj}_proj.lora_A.weight`] = ramp([2, 64], l + 1);
      tensors[`base_model.model.layers.${l}.self_attn.${proj}_proj.lora_B.weight`] = ramp([out, 2], l + 2);
    }
  }
  writeSafetensors(join(path, 'adapter_model.safetensors'), tensors);
  return path;
}

/** The newest card's audio bytes as the server serves them. */
async function newestAudio(page: Page, origin = base): Promise<Buffer> {
  const file = await page.evaluate(() => JSON.parse(localStorage.getItem('acestep.songs')!)[0].file as string);
  return Buffer.from(await (await fetch(origin + file)).arrayBuffer());
}

/** The waveform's drawn area on screen. */
async function waveBox(page: Page, sel: string): Promise<{ x: number; y: number; width: number; height: number }> {
  const box = await page.locator(sel).boundingBox();
  expect(box && box.width > 100 && box.height >= 60).toBe(true);
  return box!;
}

describe('web page on acestep serve (tiny checkpoints)', () => {
  it('serves the built page at / with hashed assets', async () => {
    const res = await fetch(`${base}/`);
    expect(res.status).toBe(200);
    const html = await res.text();
    const asset = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)![1];
    const js = await fetch(`${base}/${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toMatch(/immutable/);
    // The API's own 404 still answers for unknown paths.
    expect((await fetch(`${base}/no-such-page`)).status).toBe(404);
  });

  it('Simple: the LM writes the song from one line, it is edited and generated', async () => {
    const page = await open('simple');
    // The LM is loaded through the page's model picker (upstream's /v1/init with init_llm).
    await page.getByText('Server, models and LoRA', { exact: true }).click();
    await page.getByLabel('Language model (LM)').selectOption('acestep-5Hz-lm-0.6B');
    await page.getByRole('button', { name: 'Load models' }).click();
    await expect.poll(() => page.locator('#model-status').textContent(), { timeout: 60_000 }).toMatch(/loaded/);
    await page.getByText('Server, models and LoRA', { exact: true }).click();

    await page.getByLabel('Describe the song in a line').fill('a cheerful summer song about the sea');
    // The tiny LM's random weights write until its token limits: about a minute on a busy machine.
    const answer = page.waitForResponse((r) => r.url().endsWith('/v1/create_sample'), { timeout: 240_000 });
    await page.getByRole('button', { name: 'Write the song' }).click();
    const sample = (await (await answer).json()).data;
    await expect.poll(() => page.locator('#write-status').textContent(), { timeout: 10_000 }).toMatch(/Done/);
    expect(await page.getByLabel(/^Caption/).inputValue()).toBe(sample.caption);
    expect(await page.getByLabel('Lyrics', { exact: true }).inputValue()).toBe(sample.lyrics);
    if (sample.bpm) expect(await page.getByLabel('BPM').inputValue()).toBe(String(sample.bpm));

    const caption = 'bright ukulele pop, whistling, summer';
    await page.getByLabel(/^Caption/).fill(caption);
    await quick(page, 6);
    await page.getByLabel(/LM rewrites the caption/).setChecked(false);
    const req = await generate(page);
    const sent = req.postDataJSON();
    expect(sent).toMatchObject({
      task_type: 'text2music',
      prompt: caption,
      lyrics: sample.lyrics,
      audio_duration: 6,
      inference_steps: 2,
      audio_format: 'wav',
      thinking: false,
    });
    await songsDone(page, 1);
    await page.screenshot({ path: join(SHOTS, 'simple.png'), fullPage: true });
    const meta = await cardMeta(page);
    expect(meta.Duration).toBe('6.0 s');
    expect(meta.Mode).toBe('simple');
    expect(await page.locator('#songs > li .caption').first().textContent()).toBe(caption);
    // 6 s of 200 Hz stereo 16-bit WAV.
    expect(await expectDownloadMatchesServer(page, base)).toBe(44 + 6 * 200 * 2 * 2);
    await page.close();
  }, 360_000);

  it('Understand: the LM describes a song of the history on its card', async () => {
    const page = await open('simple', base, true); // the Simple song, and the LM loaded there
    const card = page.locator('#songs > li').first();
    const submitted = page.waitForRequest((r) => r.url().endsWith('/release_task'));
    await card.getByRole('button', { name: /^Describe/ }).click();
    const taskId = (await (await (await submitted).response())!.json()).data.task_id as string;
    expect(await page.evaluate(() => (window as unknown as { __forms: Record<string, string>[] }).__forms.at(-1))).toMatchObject({
      full_analysis_only: 'true',
      src_audio: `file:RIFF:${44 + 6 * 200 * 2 * 2}`,
    });
    // The tiny LM's random weights read until their token limits: minutes on a busy machine.
    await expect.poll(() => card.locator('.understanding h4').count(), { timeout: 300_000, interval: 1000 }).toBe(1);
    const [q] = await query(base, [taskId]);
    const item = JSON.parse(q.result)[0];
    expect(item.file).toBe('');
    expect(await card.locator('.understanding pre').textContent()).toBe(item.lyrics || '(no lyrics)');
    const shown = await card
      .locator('.understanding dl.meta')
      .evaluate((dl) =>
        Object.fromEntries(
          [...dl.querySelectorAll('div')].map((d) => [d.querySelector('dt')!.textContent!, d.querySelector('dd')!.textContent!]),
        ),
      );
    if (item.prompt) expect(shown.Caption).toBe(item.prompt);
    if (item.metas.bpm !== 'N/A') expect(shown.BPM).toBe(String(item.metas.bpm));
    await page.screenshot({ path: join(SHOTS, 'understand.png'), fullPage: true });
    // "Use in the form" copies the reading into Custom mode.
    await card.getByRole('button', { name: 'Use in the form' }).click();
    expect(await page.getByRole('tab', { name: 'Custom' }).getAttribute('aria-selected')).toBe('true');
    expect(await page.getByLabel(/^Caption/).inputValue()).toBe(item.prompt);
    expect(await page.getByLabel('Lyrics', { exact: true }).inputValue()).toBe(item.lyrics);
    await page.close();
  }, 420_000);

  it('Custom: every field reaches the request and the song card', async () => {
    const page = await open('custom');
    expect(await page.locator('#more').evaluate((d) => (d as HTMLDetailsElement).open)).toBe(true);
    await page.getByLabel(/^Caption/).fill('slow jazz ballad, upright bass, brushed drums');
    await page.getByLabel('Lyrics', { exact: true }).fill('[verse]\nmoonlight on the water\n[chorus]\nstay with me');
    await page.getByLabel('BPM').fill('96');
    await page.getByLabel('Key', { exact: true }).fill('Eb major');
    await page.getByLabel('Time signature').selectOption('3');
    await page.getByLabel('Vocal language').selectOption('fr');
    await quick(page, 8);
    await page.getByLabel('Seeds', { exact: true }).fill('4242');
    await page.getByLabel('Shift').fill('2.5');
    await page.getByLabel('Guidance').fill('5');
    await page.getByLabel('Sampler').selectOption('sde');
    const sent = (await generate(page)).postDataJSON();
    expect(sent).toMatchObject({
      task_type: 'text2music',
      bpm: 96,
      key_scale: 'Eb major',
      time_signature: '3',
      vocal_language: 'fr',
      audio_duration: 8,
      seed: '4242',
      use_random_seed: false,
      inference_steps: 2,
      shift: 2.5,
      guidance_scale: 5,
      infer_method: 'sde',
      batch_size: 1,
      model: 'acestep-v15-turbo',
      use_cot_caption: true,
      use_cot_language: true,
      use_format: false,
    });
    await songsDone(page, 1);
    await page.screenshot({ path: join(SHOTS, 'custom.png'), fullPage: true });
    expect(await cardMeta(page)).toMatchObject({
      Seed: '4242',
      BPM: '96',
      Key: 'Eb major',
      Time: '3/4',
      Duration: '8.0 s',
      Model: 'acestep-v15-turbo',
      Mode: 'custom',
    });
    expect(await expectDownloadMatchesServer(page, base)).toBe(44 + 8 * 200 * 2 * 2);
    // The history survives a reload.
    await page.reload();
    await songsDone(page, 1);
    expect((await cardMeta(page)).Seed).toBe('4242');
    await page.close();
  });

  it('Repaint: a range dragged on the source waveform is repainted', async () => {
    const page = await open('custom', base, true); // keeps the history: the custom song is the source
    await page
      .getByRole('button', { name: /^Use as source:/ })
      .first()
      .click();
    expect(await page.getByRole('tab', { name: 'Repaint' }).getAttribute('aria-selected')).toBe('true');
    await expect.poll(() => page.locator('#src-wave.drawn').count()).toBe(1);
    const box = await waveBox(page, '#src-wave');
    // The source is 8 s long; drag from 60% to 90% of the waveform's width.
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.75, box.y + box.height / 2, { steps: 5 });
    await page.mouse.move(box.x + box.width * 0.9, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    const start = Number(await page.getByLabel('Repaint from (s)', { exact: true }).inputValue());
    const end = Number(await page.getByLabel('to (s)', { exact: true }).inputValue());
    // Within 0.25 s (the drag threshold and the waveform's padding move the edges by a few pixels).
    expect(Math.abs(start - 4.8)).toBeLessThan(0.25);
    expect(Math.abs(end - 7.2)).toBeLessThan(0.25);
    await page.getByLabel(/^Caption/).fill('jazz ballad with a trumpet solo');
    await quick(page, 8);
    await generate(page);
    const f = await lastForm(page);
    expect(f).toMatchObject({
      task_type: 'repaint',
      repainting_start: start.toFixed(1),
      repainting_end: end.toFixed(1),
      repaint_mode: 'balanced',
      repaint_strength: '0.5',
    });
    expect(f.src_audio).toBe(`file:RIFF:${44 + 8 * 200 * 2 * 2}`);
    await songsDone(page, 2);
    await page.screenshot({ path: join(SHOTS, 'repaint.png'), fullPage: true });
    expect(await serverInfo(page)).toMatch(/^task repaint/);
    expect(await cardMeta(page)).toMatchObject({ Mode: 'repaint', Duration: '8.0 s' });
    await expectDownloadMatchesServer(page, base);
    await page.close();
  });

  it('Cover / Remix and Lego / Complete on a song from the history', async () => {
    const page = await open('cover', base, true);
    await page.getByLabel('…or pick one of your songs').selectOption({ index: 1 });
    await expect.poll(() => page.locator('#src-wave.drawn').count()).toBe(1);
    await setRange(page, /^How closely to follow the source/, 0.5);
    await page.getByLabel('…or one of your songs').selectOption({ index: 2 });
    await page.getByLabel(/^Caption/).fill('the same song as an 80s synthwave track');
    await quick(page, 8);
    await generate(page);
    let f = await lastForm(page);
    expect(f).toMatchObject({ task_type: 'cover', audio_cover_strength: '0.5', cover_noise_strength: '0' });
    expect(f.src_audio).toMatch(/^file:RIFF:/);
    expect(f.ref_audio).toMatch(/^file:RIFF:/);
    await songsDone(page, 3);
    await page.screenshot({ path: join(SHOTS, 'cover.png'), fullPage: true });
    expect(await serverInfo(page)).toMatch(/^task cover/);
    expect((await cardMeta(page)).Mode).toBe('cover');

    await page.getByRole('tab', { name: 'Lego / Extract / Complete' }).click();
    await page.getByLabel('…or pick one of your songs').selectOption({ index: 1 });
    await page.getByLabel('Task').selectOption('lego');
    await page.getByLabel('Track', { exact: true }).selectOption('guitar');
    // The turbo model is not trained for lego (upstream's model zoo): the page says which one is,
    // and the model picker loads it (/v1/init).
    expect(await page.locator('#track-model-hint').textContent()).toBe(
      'acestep-v15-turbo is not trained for lego; acestep-v15-base is (load it under "Server, models and LoRA").',
    );
    await loadDit(page, 'acestep-v15-base');
    expect(await page.locator('#track-model-hint').textContent()).toBe('');
    await page.getByLabel(/^Caption/).fill('add a clean electric guitar');
    await generate(page);
    f = await lastForm(page);
    expect(f).toMatchObject({ task_type: 'lego', track_name: 'guitar' });
    await songsDone(page, 4);
    await page.screenshot({ path: join(SHOTS, 'tracks.png'), fullPage: true });
    expect(await serverInfo(page)).toMatch(/^task lego/);
    expect((await cardMeta(page)).Model).toBe('acestep-v15-base');
    expect((await cardMeta(page)).Mode).toBe('tracks');

    // An uploaded file as the source.
    const tone = writeTone(join(dir, 'tone.wav'), 5);
    await page.getByLabel('Upload a song').setInputFiles(tone);
    expect(await page.locator('#src-name').textContent()).toBe('Source: tone.wav');
    await page.getByLabel('Task').selectOption('complete');
    await page.getByRole('checkbox', { name: 'drums' }).check();
    await page.getByRole('checkbox', { name: 'bass', exact: true }).check();
    await generate(page);
    f = await lastForm(page);
    expect(f).toMatchObject({ task_type: 'complete', track_classes: 'drums,bass', src_audio: `file:RIFF:${statSync(tone).size}` });
    await songsDone(page, 5);
    expect(await serverInfo(page)).toMatch(/^task complete/);
    await loadDit(page, 'acestep-v15-turbo');
    await expectDownloadMatchesServer(page, base);
    await page.close();
  });

  it('Cancel: a running job and a queued one (with its queue position) are cancelled from their buttons', async () => {
    const page = await open('custom');
    await page.getByLabel(/^Caption/).fill('a very long ambient drone');
    await quick(page, 600, 3, 8);
    const taskOf = async (req: Request) => (await (await req.response())!.json()).data as { task_id: string; queue_position: number };
    const running = await taskOf(await generate(page));
    await page.getByLabel(/^Caption/).fill('a second drone');
    const waiting = await taskOf(await generate(page));
    expect(waiting.queue_position).toBeGreaterThanOrEqual(1);
    const jobA = page.locator(`#jobs > li[data-task="${running.task_id}"]`);
    const jobB = page.locator(`#jobs > li[data-task="${waiting.task_id}"]`);
    await expect.poll(() => jobA.locator('.stage').textContent(), { timeout: 60_000 }).toMatch(/^Generating · Diffusion step \d+\/8$/);
    expect(await jobB.locator('.stage').textContent()).toBe(`Waiting in the queue: position ${waiting.queue_position}`);
    await page.screenshot({ path: join(SHOTS, 'jobs.png'), fullPage: true });
    // The queued job's cancel answer is held until the event stream has shown the job's end (the
    // order a loaded machine can produce): the late answer must not overwrite "Cancelled".
    await page.route('**/v1/cancel', async (route) => {
      const answer = await route.fetch();
      await expect.poll(() => jobB.getAttribute('data-status'), { timeout: 30_000 }).toBe('failed');
      await route.fulfill({ response: answer });
    });
    const answered = page.waitForResponse('**/v1/cancel');
    await jobB.getByRole('button', { name: /^Cancel/ }).click();
    await expect.poll(() => jobB.locator('.stage').textContent(), { timeout: 30_000 }).toBe('Cancelled');
    await answered;
    // Let the page's click handler take the answer (a late check can only pass, never fail wrongly).
    await page.evaluate(() => new Promise((done) => setTimeout(done, 300)));
    expect(await jobB.locator('.stage').textContent()).toBe('Cancelled');
    await page.unroute('**/v1/cancel');
    await jobA.getByRole('button', { name: /^Cancel/ }).click();
    await expect.poll(() => jobA.locator('.stage').textContent(), { timeout: 30_000 }).toBe('Cancelled');
    for (const q of await query(base, [running.task_id, waiting.task_id])) {
      expect(q.status).toBe(2);
      expect(JSON.parse(q.result)[0].error).toBe('cancelled');
    }
    expect(await page.locator('#songs > li').count()).toBe(0);
    expect(await page.evaluate(() => localStorage.getItem('acestep.jobs'))).toBe('[]');
    await page.close();
  });

  it('a reload mid-job follows the job again until its songs arrive', async () => {
    const page = await open('custom');
    await page.getByLabel(/^Caption/).fill('a long orchestral piece');
    // Four 10-minute songs: long enough on a fast machine that the reload lands mid-job.
    await quick(page, 600, 4, 8);
    const taskId = (await (await (await generate(page)).response())!.json()).data.task_id as string;
    const job = () => page.locator(`#jobs > li[data-task="${taskId}"]`);
    await expect.poll(() => job().locator('.stage').textContent(), { timeout: 60_000 }).toMatch(/Diffusion step/);
    await page.reload();
    // The job is back from localStorage, with live progress, before it ends.
    await expect.poll(() => job().count(), { timeout: 10_000 }).toBe(1);
    const seen: number[] = [];
    await expect
      .poll(
        async () => {
          const v = await job()
            .locator('progress')
            .evaluate((p) => (p as HTMLProgressElement).value)
            .catch(() => 1);
          seen.push(v);
          return v;
        },
        { timeout: 180_000, interval: 200 },
      )
      .toBe(1);
    expect(seen.some((v) => v > 0 && v < 1)).toBe(true);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]);
    await songsDone(page, 4, 120_000);
    const [q] = await query(base, [taskId]);
    expect(q.status).toBe(1);
    await page.close();
  }, 300_000);

  it('with an API key: refused without it, works once it is entered, audio fetched with the header', async () => {
    const keyed = await startServe('keyed', ['--api-key', KEY]);
    const page = await open('custom', keyed);
    await expect.poll(() => page.locator('#health').textContent()).toMatch(/API key needed/);
    await page.getByLabel(/^Caption/).fill('punk rock');
    await quick(page, 6);
    await page.locator('#generate').click();
    await expect.poll(() => page.locator('#submit-status').textContent()).toMatch(/API key/);
    expect(await page.locator('#jobs > li').count()).toBe(0);

    await page.getByText('Server, models and LoRA', { exact: true }).click();
    await page.getByRole('textbox', { name: 'API key' }).fill(KEY);
    await page.getByRole('button', { name: 'Save key' }).click();
    // The panel's calls succeed with the key: the model list and LoRA status fill in, no error left.
    await expect.poll(() => page.locator('#lora-status').textContent()).toBe('No adapter loaded.');
    await expect.poll(() => page.locator('#dit-model option:checked').textContent()).toBe('acestep-v15-turbo (loaded)');
    expect(await page.locator('#model-status').textContent()).toBe('');
    expect(await page.locator('#submit-status').textContent()).toBe('');
    await page.screenshot({ path: join(SHOTS, 'api-key.png'), fullPage: true });
    await page.getByText('Server, models and LoRA', { exact: true }).click();
    const authOf = new Map<string, string | undefined>();
    page.on('request', (r) => authOf.set(new URL(r.url()).pathname, r.headers().authorization));
    await generate(page);
    await songsDone(page, 1);
    const events = [...authOf.keys()].find((p) => /^\/v1\/jobs\/[^/]+\/events$/.test(p))!;
    for (const path of ['/release_task', '/query_result', '/v1/audio', events]) expect(authOf.get(path), path).toBe(`Bearer ${KEY}`);
    expect(await expectDownloadMatchesServer(page, keyed, KEY)).toBe(44 + 6 * 200 * 2 * 2);
    await page.close();
  });

  it('phone width, keyboard and labels', async () => {
    const page = await open('custom');
    await page.setViewportSize({ width: 360, height: 800 });
    // Ctrl+Enter in the form submits.
    await page.getByLabel(/^Caption/).fill('keyboard song');
    await quick(page, 6);
    const req = page.waitForRequest((r) => r.url().endsWith('/release_task'));
    await page.getByLabel(/^Caption/).press('Control+Enter');
    expect((await req).postDataJSON().prompt).toBe('keyboard song');
    await songsDone(page, 1);
    await page.getByRole('tab', { name: 'Simple' }).click();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await page.screenshot({ path: join(SHOTS, 'phone.png'), fullPage: true });
    // The mode tabs by keyboard (ARIA tabs: arrows, End, Home).
    await page.getByRole('tab', { name: 'Simple' }).focus();
    await page.keyboard.press('ArrowRight');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Custom');
    expect(await page.getByRole('tab', { name: 'Custom' }).getAttribute('aria-selected')).toBe('true');
    await page.keyboard.press('End');
    expect(await page.getByRole('tab', { name: 'Lego / Extract / Complete' }).getAttribute('aria-selected')).toBe('true');
    await page.keyboard.press('Home');
    expect(await page.getByRole('tab', { name: 'Simple' }).getAttribute('aria-selected')).toBe('true');
    // Every visible control in every mode has an accessible name, and nothing scrolls sideways.
    for (const mode of ['simple', 'custom', 'cover', 'repaint', 'tracks']) {
      await page.locator(`[role=tab][data-mode=${mode}]`).click();
      expect(await page.evaluate(() => document.documentElement.scrollWidth), mode).toBeLessThanOrEqual(360);
      const unnamed = await page.evaluate(() =>
        [...document.querySelectorAll<HTMLElement>('input, select, textarea, button, a[href]')]
          .filter((e) => e.offsetParent !== null)
          .filter((e) => {
            const c = e as HTMLInputElement;
            const labelled = (c.labels && c.labels.length > 0) || e.getAttribute('aria-label') || e.getAttribute('aria-labelledby');
            return !labelled && !(e.textContent ?? '').trim();
          })
          .map((e) => e.outerHTML.slice(0, 80)),
      );
      expect(unnamed, mode).toEqual([]);
    }
    await page.close();
  });
  it('LoRA picker: load, use, scale and unload change what the server generates', async () => {
    const page = await open('custom');
    await page.getByLabel(/^Caption/).fill('lofi beat');
    await quick(page, 6);
    await page.getByLabel('Seeds', { exact: true }).fill('7');
    await generate(page);
    await songsDone(page, 1);
    const plain = await newestAudio(page);

    await page.getByText('Server, models and LoRA', { exact: true }).click();
    await expect.poll(() => page.locator('#lora-status').textContent()).toBe('No adapter loaded.');
    await page.getByLabel('Adapter path on the server').fill(writeTinyAdapter(join(dir, 'adapter')));
    await page.getByRole('button', { name: 'Load', exact: true }).click();
    await expect.poll(() => page.locator('#lora-status').textContent()).toMatch(/^loaded /);
    expect(await page.getByLabel('Use the adapter').isChecked()).toBe(true);
    await generate(page);
    await songsDone(page, 2);
    const adapted = await newestAudio(page);
    expect(adapted.length).toBe(plain.length);
    expect(adapted.equals(plain)).toBe(false);

    // Off: the base model's audio again, bit for bit (same seed).
    await page.getByLabel('Use the adapter').uncheck();
    await expect.poll(async () => (await (await fetch(`${base}/v1/lora/status`)).json()).data.use_lora).toBe(false);
    await generate(page);
    await songsDone(page, 3);
    expect((await newestAudio(page)).equals(plain)).toBe(true);

    // The status refresh after the toggle lands while the slider is moved (its response held back
    // 300 ms): it must not put the old scale back before the change commits.
    await page.route('**/v1/lora/status', async (route) => {
      await new Promise((r) => setTimeout(r, 300));
      await route.continue();
    });
    await page.getByLabel('Use the adapter').check();
    await setRange(page, /^Scale/, 0.5);
    await page.waitForTimeout(700);
    await page.getByLabel(/^Scale/).dispatchEvent('change');
    await page.unroute('**/v1/lora/status');
    await expect.poll(async () => (await (await fetch(`${base}/v1/lora/status`)).json()).data.lora_scale).toBe(0.5);
    await expect.poll(() => page.locator('#lora-scale-out').textContent()).toBe('0.50');
    expect(await page.getByLabel(/^Scale/).inputValue()).toBe('0.5');
    await page.screenshot({ path: join(SHOTS, 'lora.png'), fullPage: true });
    await page.getByRole('button', { name: 'Unload' }).click();
    await expect.poll(() => page.locator('#lora-status').textContent()).toBe('unloaded');
    expect((await (await fetch(`${base}/v1/lora/status`)).json()).data.lora_loaded).toBe(false);
    await page.close();
  });
});
