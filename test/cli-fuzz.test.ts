// Fuzz of the `acestep` command line through its own entry point (runCli, in process, streams
// captured): argument vectors of every sub-command mutated token by token (flag spellings, values,
// `--key=value`, missing values, unknown flags and commands, unicode, huge strings, odd numbers)
// plus --params / --config files holding mutated JSON and --lyrics-file paths that do not exist.
// No case may load a model: --checkpoints names a folder that does not exist (and the Hugging Face
// cache is an empty folder), so a vector that passes every check ends in exit 3 with the
// checkpoint message, counted apart. Every case resolves within a second to exit 0 (help, version),
// 2 (a usage or parameter error named on stderr) or 3; never 1, never a throw.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/acestep-main.js';
import { getNumThreads, setNumThreads } from '../src/index.js';
import { fuzz, fuzzRuns, fuzzSeed, jsonMutations, mutateJson } from './support/fuzz.js';

const tmp = mkdtempSync(join(tmpdir(), 'acestep-cli-fuzz-'));
const noCheckpoints = join(tmp, 'no-such-checkpoints');
const out = join(tmp, 'out');
const emptyHub = join(tmp, 'hub');
mkdirSync(emptyHub);
const savedHub = process.env.HF_HUB_CACHE;
const threads = getNumThreads();
beforeAll(() => {
  process.env.HF_HUB_CACHE = emptyHub;
});
afterAll(() => {
  if (savedHub === undefined) delete process.env.HF_HUB_CACHE;
  else process.env.HF_HUB_CACHE = savedHub;
  setNumThreads(threads); // --threads reaches setNumThreads before the checkpoint root is checked
  rmSync(tmp, { recursive: true, force: true });
});

/** Valid vectors of the model-running commands (before the fixed checkpoint/out prefix). */
const SEEDS: readonly (readonly string[])[] = [
  [
    'generate',
    '--caption',
    'calm piano',
    '--lyrics',
    '[verse]\nla la',
    '--duration',
    '10',
    '--inference-steps',
    '8',
    '--seed',
    '42',
    '--bpm',
    '120',
    '--keyscale',
    'C major',
    '--timesignature',
    '4',
    '--batch-size',
    '1',
    '--audio-format',
    'wav',
    '--thinking',
    'false',
    '--lm-top-p',
    '0.9',
    '--timesteps',
    '0.9,0.5,0.2',
    '--backend',
    'cpu',
  ],
  [
    'generate',
    '--task-type',
    'repaint',
    '--repainting-start',
    '1',
    '--repainting-end',
    '4',
    '--shift',
    '3',
    '--seeds',
    '1,2',
    '--json',
    '-q',
  ],
  ['understand', '--audio-codes', '<|audio_code_1|><|audio_code_2|>', '--lm-temperature', '0.8', '--lm-top-k', '40'],
  ['create-sample', '--query', 'a happy song', '--instrumental', 'true', '--vocal-language', 'en', '--seed', '7'],
  [
    'format-sample',
    '--caption',
    'rock',
    '--lyrics',
    'hello',
    '--bpm',
    '100',
    '--duration',
    '30',
    '--keyscale',
    'A minor',
    '--lm-max-model-len',
    '512',
  ],
];

/** Flags that may be inserted (never --checkpoints or --out: those stay fixed so no model or folder is reached). */
const FLAGS = [
  '--caption',
  '--lyrics',
  '--duration',
  '--inference-steps',
  '--inference_steps',
  '--steps',
  '--seed',
  '--seeds',
  '--bpm',
  '--keyscale',
  '--key_scale',
  '--timesignature',
  '--batch',
  '--batch-size',
  '--audio-format',
  '--format',
  '--task-type',
  '--task',
  '--guidance-scale',
  '--shift',
  '--timesteps',
  '--infer-method',
  '--repainting-start',
  '--repainting-end',
  '--audio-cover-strength',
  '--thinking',
  '--no-thinking',
  '--use-random-seed',
  '--lm-temperature',
  '--lm-top-k',
  '--lm-top-p',
  '--lm-cfg-scale',
  '--mp3-bitrate',
  '--normalization-db',
  '--complete-track-classes',
  '--vocal-language',
  '--src-audio',
  '--reference-audio',
  '--audio-codes',
  '--lora',
  '--lora-scale',
  '--threads',
  '--lm-max-model-len',
  '--lm-quantization',
  '--backend',
  '--dit-model',
  '--lm-model',
  '--query',
  '--instrumental',
  '--json',
  '-q',
  '--no-such-flag',
  '--',
  '-x',
  '---caption',
  '--caption=',
  '--CAPTION',
  '--cot_bpm',
  '--lora-id',
];

const ODD_VALUES = [
  '',
  ' ',
  'null',
  'true',
  'false',
  'none',
  'NaN',
  'Infinity',
  '-Infinity',
  '1e309',
  '-1e309',
  '1e-400',
  '0',
  '-0',
  '-1',
  '0.5',
  '1.5',
  '2147483648',
  '9007199254740993',
  '0x10',
  '1_000',
  '1,2,3',
  ',,,',
  '[1,2]',
  '{"a":1}',
  '--',
  '-1e3',
  '00012',
  ' 12 ',
  'C major',
  'X minor',
  'text2music',
  'cover',
  'mp3',
  'cuda',
  'auto',
  'gpu',
  '4/4',
  'ü',
  '夜の歌 🎹',
  '\u0000',
  '\u202e',
  '\ud800',
  '../../etc/passwd',
  '/proc/self/mem',
];

type Token = { kind: 'odd'; i: number } | { kind: 'gen'; s: string } | { kind: 'huge'; n: number; c: string };

type ArgMutation =
  | { op: 'value'; at: number; v: Token }
  | { op: 'flag'; at: number; flag: number }
  | { op: 'insert'; at: number; flag: number; v: Token }
  | { op: 'drop'; at: number }
  | { op: 'dup'; at: number }
  | { op: 'equals'; at: number }
  | { op: 'snake'; at: number }
  | { op: 'upper'; at: number }
  | { op: 'command'; name: string }
  | { op: 'file'; flag: '--params' | '--config'; doc: number; muts: Parameters<typeof mutateJson>[1]; raw: string | null }
  | { op: 'lyricsFile' }
  | { op: 'help'; flag: string; at: number };

const token: fc.Arbitrary<Token> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('odd' as const), i: fc.nat(ODD_VALUES.length - 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('gen' as const), s: fc.string({ unit: 'binary', maxLength: 24 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('huge' as const),
      n: fc.constantFrom(1 << 12, 1 << 16, 1 << 20),
      c: fc.constantFrom('x', '9', '夜', ','),
    }),
  },
);
const tokenText = (t: Token) => (t.kind === 'odd' ? ODD_VALUES[t.i] : t.kind === 'gen' ? t.s : t.c.repeat(t.n));

/** Parameter documents for --params / --config (snake and camel names, as the files may hold). */
const DOCS: readonly Record<string, unknown>[] = [
  {
    caption: 'calm piano',
    lyrics: 'la',
    duration: 10,
    bpm: 120,
    inference_steps: 8,
    seed: 42,
    task_type: 'text2music',
    keyscale: 'C major',
  },
  { taskType: 'repaint', repaintingStart: 1, repaintingEnd: 4, timesteps: [0.9, 0.5, 0.2], thinking: false },
  { batch_size: 1, audio_format: 'wav', use_random_seed: false, seeds: [1, 2], mp3_bitrate: '128k' },
];

const mutation: fc.Arbitrary<ArgMutation> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('value' as const), at: fc.nat(), v: token }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('flag' as const), at: fc.nat(), flag: fc.nat(FLAGS.length - 1) }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fc.nat(), flag: fc.nat(FLAGS.length - 1), v: token }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('drop' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('dup' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('equals' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('snake' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('upper' as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('command' as const),
      name: fc.constantFrom('generat', 'GENERATE', 'help', 'gen', '', '-', 'create_sample', 'format_sample', '💥', 'download --x'),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('file' as const),
      flag: fc.constantFrom('--params' as const, '--config' as const),
      doc: fc.nat(DOCS.length - 1),
      muts: jsonMutations(['caption', 'duration', 'bpm', 'seed', 'seeds', 'timesteps', 'task_type', 'batch_size', 'lora_id']),
      raw: fc.oneof(
        { weight: 3, arbitrary: fc.constant(null) },
        {
          weight: 1,
          arbitrary: fc.constantFrom('null', '[]', '"x"', '7', '{', '', '{"caption": "\\ud800"}', '\ufeff{}', '{"__proto__": {"x": 1}}'),
        },
      ),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'lyricsFile' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('help' as const), flag: fc.constantFrom('--help', '-h', '--version', '-V'), at: fc.nat() }),
  },
);

let fileNo = 0;

/** Applies the mutations to a copy of `seed` (the command word stays at index 0 unless replaced). */
function mutateArgv(seed: readonly string[], muts: readonly ArgMutation[]): string[] {
  const a = [...seed];
  const pos = (at: number) => 1 + (at % Math.max(1, a.length - 1));
  for (const m of muts) {
    if (m.op === 'value') a[pos(m.at)] = tokenText(m.v);
    else if (m.op === 'flag') a[pos(m.at)] = FLAGS[m.flag];
    else if (m.op === 'insert') a.splice(pos(m.at), 0, FLAGS[m.flag], tokenText(m.v));
    else if (m.op === 'drop' && a.length > 1) a.splice(pos(m.at), 1);
    else if (m.op === 'dup') a.splice(pos(m.at), 0, a[pos(m.at)] ?? '');
    else if (m.op === 'equals') {
      const i = pos(m.at);
      if (a[i]?.startsWith('--') && i + 1 < a.length) a.splice(i, 2, `${a[i]}=${a[i + 1]}`);
    } else if (m.op === 'snake') a[pos(m.at)] = (a[pos(m.at)] ?? '').replace(/-/g, '_').replace(/^__/, '--');
    else if (m.op === 'upper') a[pos(m.at)] = (a[pos(m.at)] ?? '').toUpperCase();
    else if (m.op === 'command') a[0] = m.name;
    else if (m.op === 'file') {
      const p = join(tmp, `doc${fileNo++ % 64}.json`);
      writeFileSync(p, m.raw ?? JSON.stringify(mutateJson(DOCS[m.doc], m.muts)) ?? 'undefined');
      a.push(m.flag, p);
    } else if (m.op === 'lyricsFile') a.push('--lyrics-file', join(tmp, 'absent', 'lyrics.txt'));
    else if (m.op === 'help') a.splice(pos(m.at), 0, m.flag);
  }
  return a;
}

interface Outcome {
  code: number;
  out: string;
  err: string;
}

async function run(argv: string[]): Promise<Outcome> {
  let o = '';
  let e = '';
  const code = await runCli(argv, { stdout: { write: (s: string) => (o += s) }, stderr: { write: (s: string) => (e += s) } });
  return { code, out: o, err: e };
}

/** What a missing checkpoint root (or an empty cache) prints when a vector passes every check. */
const CHECKPOINT_MESSAGE = /checkpoint root folder does not exist|no DiT folder/;

interface Counts {
  help: number;
  usage: number;
  checkpoints: number;
}

/** The property of one vector; throws (a finding) when it does not hold. */
function check(argv: string[], r: Outcome, counts: Counts): void {
  const show = () =>
    `argv ${JSON.stringify(argv.map((s) => (s.length > 80 ? `${s.slice(0, 40)}...(${s.length})` : s)))}\nexit ${r.code}\n${r.err.slice(0, 2000)}`;
  if (/\bloaded |loading /.test(r.err)) throw new Error(`a model was loaded: ${show()}`);
  if (r.code === 0) {
    if (r.out === '' && r.err === '') throw new Error(`exit 0 without output: ${show()}`);
    counts.help++;
  } else if (r.code === 2) {
    if (!/\S/.test(r.err)) throw new Error(`exit 2 without a message: ${show()}`);
    counts.usage++;
  } else if (r.code === 3) {
    if (!CHECKPOINT_MESSAGE.test(r.err)) throw new Error(`exit 3 without the checkpoint message: ${show()}`);
    counts.checkpoints++;
  } else throw new Error(`exit ${r.code}: ${show()}`);
}

describe('acestep command line under mutation', () => {
  it('model commands: mutated flags, values, spellings and parameter files', async () => {
    const counts: Counts = { help: 0, usage: 0, checkpoints: 0 };
    // A fifth of the cases only respell flags (`--k=v`, snake_case), so more vectors pass every check.
    const respell = fc.record({ op: fc.constantFrom('equals' as const, 'snake' as const), at: fc.nat() });
    const arb = fc.record({
      seed: fc.nat(SEEDS.length - 1),
      muts: fc.oneof(
        { weight: 4, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 5 }) },
        { weight: 1, arbitrary: fc.array(respell, { minLength: 1, maxLength: 6 }) },
      ),
    });
    const report = await fuzz(
      arb,
      async ({ seed, muts }) => {
        const m = mutateArgv(SEEDS[seed], muts);
        const argv = [m[0], '--checkpoints', noCheckpoints, '--out', out, ...m.slice(1)];
        check(argv, await run(argv), counts);
      },
      () => false,
      { runs: fuzzRuns(2500), seed: fuzzSeed(1770) },
    );
    console.log(
      `fuzz cli: ${report.cases} cases, exit 0 (help/version) ${counts.help}, exit 2 ${counts.usage}, exit 3 (reached the engine) ${counts.checkpoints}, slowest ${report.slowestMs.toFixed(1)} ms`,
    );
    expect(report.cases).toBe(fuzzRuns(2500));
    // The mutations must reach all three outcomes, or the property is not exercised.
    expect(counts.help).toBeGreaterThan(0);
    expect(counts.usage).toBeGreaterThan(0);
    expect(counts.checkpoints).toBeGreaterThan(0);
  });

  it('vectors from nothing: random tokens, unknown commands, serve/worker forms that cannot start', async () => {
    const counts: Counts = { help: 0, usage: 0, checkpoints: 0 };
    const word = fc.oneof(
      fc.constantFrom(...FLAGS, ...ODD_VALUES, 'generate', 'understand', 'create-sample', 'format-sample', 'download', '--help'),
      fc.string({ unit: 'binary', maxLength: 12 }),
    );
    // serve binds 0.0.0.0 without a key (refused before anything loads); worker lacks --checkpoints.
    const serve = fc
      .array(
        fc.tuple(
          fc.constantFrom(
            '--port',
            '--queue-max',
            '--retention-days',
            '--lm-max-model-len',
            '--quantization',
            '--lm-quantization',
            '--device',
            '--log',
            '--bogus',
          ),
          word,
        ),
        { maxLength: 3 },
      )
      .map((kv) => ['serve', '--host', '0.0.0.0', ...kv.flat()]);
    const worker = fc
      .array(fc.tuple(fc.constantFrom('--lock-ms', '--device', '--redis-prefix', '--retention-days', '--help-me'), word), { maxLength: 3 })
      .map((kv) => ['worker', ...kv.flat()]);
    const loose = fc.array(word, { minLength: 1, maxLength: 8 }).filter((a) => !a.some((w) => ['serve', 'worker', 'download'].includes(w)));
    const report = await fuzz(
      fc.oneof(loose, serve, worker),
      async (a) => {
        // Model commands get the missing checkpoint root; a loose vector may name none.
        const argv = ['generate', 'understand', 'create-sample', 'format-sample'].includes(a[0])
          ? [a[0], '--checkpoints', noCheckpoints, '--out', out, ...a.slice(1)]
          : a;
        check(argv, await run(argv), counts);
      },
      () => false,
      { runs: fuzzRuns(1000), seed: fuzzSeed(1771) },
    );
    console.log(
      `fuzz cli (free vectors): ${report.cases} cases, exit 0 ${counts.help}, exit 2 ${counts.usage}, exit 3 ${counts.checkpoints}, slowest ${report.slowestMs.toFixed(1)} ms`,
    );
    expect(report.cases).toBe(fuzzRuns(1000));
    expect(counts.usage).toBeGreaterThan(0);
  });

  it("serve and worker write their usage errors to the caller's streams (found by the fuzzer: they went to the process)", async () => {
    const worker = await run(['worker', '--device', 'cpu']);
    expect(worker.code).toBe(2);
    expect(worker.err).toContain("required option '--checkpoints <dir>' not specified");
    const serve = await run(['serve', '--host', '0.0.0.0']);
    expect(serve.code).toBe(2);
    expect(serve.err).toContain("refusing to listen on '0.0.0.0' without an API key");
    const help = await run(['serve', '--help']);
    expect([help.code, help.out.includes('--queue-max <n>'), help.out.includes('--quantization <mode>')]).toEqual([0, true, true]);
    for (const cmd of ['serve', 'worker']) {
      const q = await run([cmd, '--checkpoints', '.', '--quantization', 'fp8_weight_only']);
      expect(q.code, cmd).toBe(2);
      expect(q.err, cmd).toContain('must be none, auto or w8a8_dynamic');
    }
  });
});
