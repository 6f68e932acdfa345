// The `acestep` command line, run in-process through runCli on the tiny official-layout
// checkpoints: --help lists every parameter with the table's range and default, --version, old
// and new flag spellings, --params / --lyrics-file / --lora / --json, errors with their exit codes
// before any model loads, progress as plain lines and (on a terminal) redrawn without remnants, the
// LM helpers honouring their sampling flags, and `download` against the loopback hub.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyCheckpoints } from '../scripts/make-tiny-checkpoints.js';
import { runCli } from '../src/cli/acestep-main.js';
import { kebab, NOT_FLAGS } from '../src/cli/param-flags.js';
import { CliProgress } from '../src/cli/progress.js';
import { CONFIG_SPECS, DEFAULT_CONFIG, DEFAULT_PARAMS, PARAM_SPECS } from '../src/index.js';
import { repoFromFolders, startLocalHub, type LocalHub } from './support/local-hub.js';
import { writeAdapter } from './support/lora-adapter.js';

let dir: string;
let ckpt: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'acestep-cli-'));
  ckpt = makeTinyCheckpoints(join(dir, 'ckpt'));
});

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  let out = '';
  let err = '';
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    const code = await runCli(args, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
    return { code, out, err };
  } finally {
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

const base = () => ['--checkpoints', ckpt, '--backend', 'cpu', '--lm-max-model-len', '1024'];
const quickGen = () => [
  'generate',
  ...base(),
  '--caption',
  'warm lofi beat',
  '--duration',
  '6',
  '--steps',
  '2',
  '--batch',
  '1',
  '--use-random-seed',
  'false',
  '--seeds',
  '7',
  '--format',
  'wav32',
];

describe('acestep --help and --version', () => {
  it('generate --help lists every parameter flag with the range and default of the parameter table', async () => {
    const r = await cli(['generate', '--help']);
    expect(r.code).toBe(0);
    const help = r.out.replace(/\s+/g, ' ');
    for (const [specs, defaults] of [
      [PARAM_SPECS, DEFAULT_PARAMS],
      [CONFIG_SPECS, DEFAULT_CONFIG],
    ] as const) {
      for (const [name, spec] of Object.entries(specs)) {
        if (NOT_FLAGS.has(name)) continue; // --lora / --lora-scale load the adapter instead
        expect(help).toContain(`--${kebab(name)} `);
        const d = (defaults as Record<string, unknown>)[name];
        const shown =
          d === null
            ? 'none'
            : typeof d === 'string'
              ? JSON.stringify(d.length > 40 ? `${d.slice(0, 37)}...` : d)
              : Array.isArray(d)
                ? `[${d.join(',')}]`
                : String(d);
        expect(help, name).toContain(`(default ${shown})`);
        if (spec.min !== undefined && spec.max !== undefined && spec.kind !== 'list')
          expect(help, name).toContain(`${spec.minOpen ? '(' : '['}${spec.min}, ${spec.max}]`);
      }
    }
    expect(help).toContain('--inference-steps <n> diffusion steps: integer [1, 200] (default 8)');
    for (const flag of ['--lyrics-file', '--params', '--lora <path>', '--lora-scale', '--json', '--checkpoints'])
      expect(help).toContain(flag);
    expect(help).toMatch(/Exit codes: 0 success 1 the run failed .* 2 bad usage .* 3 checkpoints missing .* 4 a download failed/);
  });

  it('--version prints the package version; no command is a usage error', async () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    expect(await cli(['--version'])).toMatchObject({ code: 0, out: `${pkg.version}\n` });
    const none = await cli([]);
    expect(none.code).toBe(2);
    expect(none.err).toContain('Usage: acestep');
    for (const c of ['understand', 'create-sample', 'format-sample', 'download']) {
      const h = await cli([c, '--help']);
      expect(h.code, c).toBe(0);
      if (c !== 'download')
        for (const f of ['--lm-temperature', '--lm-top-k', '--lm-top-p', '--lm-repetition-penalty', '--use-constrained-decoding', '--seed'])
          expect(h.out, `${c} ${f}`).toContain(f);
    }
  });
});

describe('acestep generate', () => {
  it('--quantization w8a8_dynamic generates with the quantized DiT; a value outside the choices is a usage error', async () => {
    const q = await cli([...quickGen(), '--no-thinking', '--quantization', 'w8a8_dynamic', '--out', join(dir, 'out-q'), '--json', '-q']);
    expect(q.code, q.err).toBe(0);
    expect((JSON.parse(q.out) as { success: boolean }).success).toBe(true);
    const bad = await cli([...quickGen(), '--quantization', 'fp8_weight_only']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--quantization.*fp8_weight_only/);
  });

  it('writes the audio; --lyrics-file, --params base with flags on top, old short and snake_case flags; --json without repeated codes', async () => {
    const lyrics = join(dir, 'song.txt');
    writeFileSync(lyrics, '[Verse]\nline one\nline two');
    const paramsFile = join(dir, 'p.json');
    writeFileSync(paramsFile, JSON.stringify({ caption: 'from file', inference_steps: 5, shift: 2, bpm: 100 }));
    const out = join(dir, 'out1');
    const r = await cli([
      ...quickGen(),
      '--params',
      paramsFile,
      '--lyrics-file',
      lyrics,
      '--inference_steps=2',
      '--lm_top_k',
      '5',
      '--lm-top-p',
      '0.8',
      '--lm-repetition-penalty',
      '1.1',
      '--out',
      out,
      '--json',
    ]);
    expect(r.code, r.err).toBe(0);
    const res = JSON.parse(r.out) as { success: boolean; audios: { path: string; params: Record<string, unknown> }[] };
    expect(res.success).toBe(true);
    const p = res.audios[0].params;
    expect(p).toMatchObject({
      caption: 'warm lofi beat',
      lyrics: '[Verse]\nline one\nline two',
      inference_steps: 2,
      shift: 2,
      bpm: 100,
      seed: 7,
      lm_top_k: 5,
      lm_top_p: 0.8,
    });
    expect(res.audios[0].path.startsWith(out)).toBe(true);
    expect(readFileSync(res.audios[0].path).subarray(0, 4).toString()).toBe('RIFF');
    // Each audio-code string appears once; later places point to it.
    const codes = r.out.match(/(<\|audio_code_\d+\|>){8,}/g) ?? [];
    expect(new Set(codes).size).toBe(codes.length);
    // Progress: plain lines (stderr is no terminal), every stage, no carriage returns.
    expect(r.err).not.toContain('\r');
    for (const line of [
      'loaded DiT (acestep-v15-turbo)',
      'loaded text encoder',
      'loaded VAE',
      'loaded 5 Hz LM',
      'diffusion: 2/2 steps',
      'saving: 1/1 files',
    ])
      expect(r.err).toContain(line);
    expect(r.err).toMatch(/LM audio codes item 1: \d+\/30 tokens/); // 6 s at 5 codes/s
    expect(r.err).toMatch(/VAE decode: (\d+)\/\1 tiles/);
  });

  it('the summary without --json; --no-thinking and --thinking false; --lora with --lora-scale changes the audio and is recorded', async () => {
    const plain = await cli([...quickGen(), '--no-thinking', '--out', join(dir, 'out2'), '-q']);
    expect(plain.code, plain.err).toBe(0);
    expect(plain.err).toBe('');
    const [path, seed, secs] = plain.out.trim().split('\t');
    expect([seed, secs]).toEqual(['seed 7', '6.0 s']);
    const lora = join(dir, 'lora');
    writeAdapter(lora);
    const adapted = await cli([
      ...quickGen(),
      '--thinking',
      'false',
      '--lora',
      lora,
      '--lora-scale',
      '0.5',
      '--out',
      join(dir, 'out3'),
      '--json',
    ]);
    expect(adapted.code, adapted.err).toBe(0);
    expect(adapted.err).toContain("loaded lora adapter 'lora' (scale 0.5)");
    const a = (JSON.parse(adapted.out) as { audios: { path: string; params: Record<string, unknown> }[] }).audios[0];
    expect(a.params).toMatchObject({ lora_loaded: true, use_lora: true, lora_scale: 0.5, thinking: false });
    expect(readFileSync(a.path).equals(readFileSync(path))).toBe(false);
  });

  it('bad input: exit 2 naming the parameter before any model loads; missing checkpoints: exit 3 with the download command', async () => {
    const bad = await cli([...quickGen(), '--inference-steps', '500']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('inferenceSteps: must be an integer in [1, 200], got 500');
    expect(bad.err).not.toContain('loading');
    expect(bad.out).toBe('');
    const unknown = await cli([...quickGen(), '--no-such-flag', '1']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain("unknown option '--no-such-flag'");
    const noFile = await cli([...quickGen(), '--lyrics-file', join(dir, 'absent.txt')]);
    expect(noFile.code).toBe(2);
    expect(noFile.err).toContain('--lyrics-file');
    const badOut = await cli([...quickGen(), '--out', '/proc/acestep-out']);
    expect(badOut.code).toBe(2);
    expect(badOut.err).toContain('/proc/acestep-out');
    expect(badOut.err).not.toContain('loading');
    const badQuant = await cli([...quickGen(), '--lm-quantization', 'int4']);
    expect(badQuant.code).toBe(2);
    expect(badQuant.err).toMatch(/--lm-quantization.*'int4'.*none, int8, int8_weight_only/);
    const badScale = await cli([...quickGen(), '--lora-scale', '0.5']);
    expect([badScale.code, badScale.err.split('\n')[0]]).toEqual([2, 'acestep: --lora-scale needs --lora <path>']);
    const missing = await cli(['generate', '--caption', 'x', '--backend', 'cpu'], {
      HF_HUB_CACHE: mkdtempSync(join(tmpdir(), 'empty-hub-')),
    });
    expect(missing.code).toBe(3);
    expect(missing.err).toMatch(/no DiT folder \(looked for acestep-v15-turbo.*get it with `npx acestep download acestep-v15-turbo`/);
  });
});

describe('LM helper commands', () => {
  // A short LM context keeps the open-ended tiny LM runs quick.
  const helper = (cmd: string, ...extra: string[]) => cli([cmd, ...base(), '--lm-max-model-len', '512', '--json', ...extra]);

  it('create-sample honours --seed, --lm-top-k and --lm-temperature and reports token progress', async () => {
    // The result reports the seed it ran with; the rest is the sample.
    const sample = (out: string) => {
      const { seed, ...rest } = JSON.parse(out) as Record<string, unknown>;
      return { seed, rest };
    };
    const greedy = async (seed: string) =>
      sample((await helper('create-sample', '--query', 'a calm piano piece', '--lm-top-k', '1', '--seed', seed)).out);
    // top-k 1 is greedy: the seed cannot matter.
    const g1 = await greedy('1');
    const g2 = await greedy('2');
    expect([g1.seed, g2.seed]).toEqual([1, 2]);
    expect(g1.rest).toEqual(g2.rest);
    const hot = async (seed: string) =>
      helper('create-sample', '--query', 'a calm piano piece', '--lm-temperature', '2', '--lm-top-p', '1', '--seed', seed);
    const [h1, h2] = [await hot('1'), await hot('2')];
    expect(h1.code, h1.err).toBe(0);
    expect(h1.out).not.toBe(h2.out); // sampled: the seed matters
    expect(sample(h1.out).rest).not.toEqual(g1.rest);
    expect(h1.err).toMatch(/LM sample: \d+ tokens/);
    const bad = await helper('create-sample', '--query', 'x', '--lm-top-p', '1.5');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/lmTopP: must be .*1\]/);
  }, 300_000);

  it('format-sample takes --lyrics-file and metadata; understand takes codes; both print plain summaries without --json', async () => {
    const lyrics = join(dir, 'fs.txt');
    writeFileSync(lyrics, '[Chorus]\nla la la');
    const f = await cli(['format-sample', ...base(), '--caption', 'rock', '--lyrics-file', lyrics, '--bpm', '120', '--lm-top-k', '1']);
    expect(f.code, f.err).toBe(0);
    expect(f.out).toMatch(/^bpm: 120$/m);
    const codes = Array.from({ length: 30 }, (_, i) => `<|audio_code_${(i * 37) % 64000}|>`).join('');
    // --lm-quantization int8 (upstream's int8_weight_only spelling too) loads the LM with int8 weights.
    const u = await cli([
      'understand',
      ...base(),
      '--audio-codes',
      codes,
      '--lm-top-k',
      '1',
      '--json',
      '--lm-quantization',
      'int8_weight_only',
    ]);
    expect(u.code, u.err).toBe(0);
    expect((JSON.parse(u.out) as { audioCodes: string }).audioCodes).toBe(codes);
    const none = await cli(['understand', ...base()]);
    expect([none.code, none.err.split('\n')[0]]).toEqual([2, 'acestep: understand needs --audio-codes <codes> or --src-audio <file>']);
  });
});

describe('terminal progress', () => {
  /** The visible lines of a terminal fed `text` (\r, \n, erase-line and column-1 moves). */
  function screen(text: string): string[] {
    const lines: string[] = [''];
    let col = 0;
    // eslint-disable-next-line no-control-regex
    for (const tok of text.match(/\x1b\[[0-9;]*[A-Za-z]|[\r\n]|[^\x1b\r\n]+/g) ?? []) {
      const row = lines.length - 1;
      if (tok === '\n') (lines.push(''), (col = 0));
      else if (tok === '\r' || tok === '\x1b[1G' || tok === '\x1b[0G') col = 0;
      else if (/^\x1b\[[02]?K$/.test(tok)) lines[row] = tok === '\x1b[2K' ? '' : lines[row].slice(0, col);
      else if (tok.startsWith('\x1b')) continue;
      else ((lines[row] = lines[row].slice(0, col) + tok + lines[row].slice(col + tok.length)), (col += tok.length));
    }
    return lines;
  }

  it('a long LM line followed by shorter DiT steps leaves no remnants; each stage ends on its own line', () => {
    let out = '';
    const p = new CliProgress({ write: (s: string) => (out += s), isTTY: true });
    p.load({ model: 'dit', dir: '/x/acestep-v15-turbo', done: false });
    p.load({ model: 'dit', dir: '/x/acestep-v15-turbo', done: true });
    for (let s = 1; s <= 150; s++) p.generation({ stage: 'lm', item: 0, phase: 2, step: s }, 150);
    for (let s = 1; s <= 8; s++) p.generation({ stage: 'dit', step: s, total: 8 });
    for (let t = 1; t <= 3; t++) p.generation({ stage: 'vae', tile: t, total: 3 });
    p.endStage();
    const lines = screen(out).filter((l) => l.trim() !== '');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^loaded DiT \(acestep-v15-turbo\) in \d+\.\d s$/);
    expect(lines[1]).toMatch(/^LM audio codes item 1 \|.*\| 150\/150 tokens/);
    expect(lines[2]).toMatch(/^diffusion \|.*\| 8\/8 steps \S+$/);
    expect(lines[3]).toMatch(/^VAE decode \|.*\| 3\/3 tiles \S+$/);

    // A load that fails ends its 'loading ...' line before the error is written.
    let out2 = '';
    const q = new CliProgress({ write: (s: string) => (out2 += s), isTTY: true });
    q.load({ model: 'vae', dir: '/x/vae', done: false });
    q.endStage();
    out2 += 'acestep: error\n';
    expect(screen(out2)).toEqual(['loading VAE (vae) ...', 'acestep: error', '']);
  });
});

describe('acestep download', () => {
  let hub: LocalHub;
  afterAll(() => hub?.close());

  it('fetches the named models into --cache-dir with HF_ENDPOINT, prints their folders; a failure exits 4', async () => {
    hub = await startLocalHub({ 'ACE-Step/Ace-Step1.5': repoFromFolders({ vae: join(ckpt, 'vae') }, 'c'.repeat(40)) });
    const cache = mkdtempSync(join(tmpdir(), 'cli-hub-'));
    const r = await cli(['download', 'vae', '--cache-dir', cache], { HF_ENDPOINT: hub.url });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(
      new RegExp(`^vae\\t${cache}/models--ACE-Step--Ace-Step1.5/snapshots/c{40}/vae\\t\\(\\d+(\\.\\d)? [kM]B fetched\\)\\n$`),
    );
    expect(r.err).toContain(`downloading vae into ${cache}`);
    expect(r.err).toMatch(/vae: \d+(\.\d)? [kM]B of \d+(\.\d)? [kM]B \(\d+(\.\d)? [kMG]?B\/s\)/);
    const fail = await cli(['download', 'acestep-5Hz-lm-4B', '--cache-dir', cache], { HF_ENDPOINT: hub.url });
    expect(fail.code).toBe(4);
    expect(fail.err).toContain('ACE-Step/acestep-5Hz-lm-4B: revision lookup failed');
  });
});
