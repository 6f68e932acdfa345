// Fuzz of the parsers of checkpoint-side files (docs/RELIABILITY.md): the torch.save zip reader
// and its unpickler (silence_latent.pt), the model config parsers (DiT, Qwen3 LM / text encoder,
// VAE), and tokenizer folders (tokenizer.json, tokenizer_config.json, derive.json). Byte mutations
// for the binary formats, tree mutations for the JSON ones; every case loads, or throws the
// layer's typed error (CheckpointError, TokenizerError), within a second.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointError } from '../src/io/errors.js';
import { TorchArchive, ZipArchive, unpickle } from '../src/io/torch-zip.js';
import { parseAceStepConfig } from '../src/models/acestep-config.js';
import { parseQwen3Config } from '../src/models/qwen3.js';
import { parseVaeConfig } from '../src/models/vae.js';
import { TextTokenizer, TokenizerError } from '../src/text/index.js';
import { byteMutations, fuzz, fuzzRuns, fuzzSeed, jsonMutations, logReport, mutateBytes, mutateJson } from './support/fuzz.js';

const ckpts = join(import.meta.dirname, 'fixtures', 'golden', 'checkpoints');
const tmp = mkdtempSync(join(tmpdir(), 'acestep-parsers-fuzz-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const isCheckpointError = (e: unknown) => e instanceof CheckpointError;
let fileNo = 0;

describe('torch.save reader under mutation', () => {
  const seed = readFileSync(join(ckpts, 'acestep-v15-turbo-tiny', 'silence_latent.pt'));

  it('whole archives: zip records, CRCs, pickle and storage', async () => {
    const exercise = (bytes: Uint8Array) => {
      const p = join(tmp, `${fileNo++ % 64}.pt`);
      writeFileSync(p, bytes);
      const a = new TorchArchive(p);
      for (const n of a.names) a.get(n).dispose();
    };
    exercise(seed);
    // Mutations land anywhere: the zip's central directory sits at the end of the file.
    const r = await fuzz(byteMutations(seed.length), (m) => exercise(mutateBytes(seed, m)), isCheckpointError, {
      runs: fuzzRuns(2000),
      seed: fuzzSeed(1720),
    });
    logReport('torch zip', r);
    expect(r.cases).toBe(fuzzRuns(2000));
  });

  it('data.pkl alone (past the CRC check)', async () => {
    const zip = new ZipArchive('silence_latent.pt', seed);
    const pkl = Uint8Array.from(zip.read('silence_latent/data.pkl'));
    unpickle('data.pkl', pkl);
    const r = await fuzz(byteMutations(pkl.length), (m) => unpickle('data.pkl', mutateBytes(pkl, m)), isCheckpointError, {
      runs: fuzzRuns(3000),
      seed: fuzzSeed(1721),
    });
    logReport('pickle', r);
    expect(r.cases).toBe(fuzzRuns(3000));
  });
});

/** Every number in a parsed config is finite (a NaN or Infinity would size buffers later). */
function checkFinite(v: unknown, path = ''): void {
  if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`parsed config holds ${v} at ${path}`);
  if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) checkFinite(x, `${path}.${k}`);
}

describe('model config parsers under mutation', () => {
  const read = (dir: string) => JSON.parse(readFileSync(join(ckpts, dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const targets: [string, Record<string, unknown>, (j: Record<string, unknown>) => unknown][] = [
    ['DiT config', read('acestep-v15-turbo-tiny'), (j) => parseAceStepConfig(j)],
    ['LM config', read('acestep-5Hz-lm-tiny'), (j) => parseQwen3Config(j, 'config.json')],
    ['text encoder config', read('Qwen3-Embedding-tiny'), (j) => parseQwen3Config(j, 'config.json')],
    ['VAE config', read('vae-tiny'), (j) => parseVaeConfig(j, 'config.json')],
  ];
  for (const [name, doc, parse] of targets) {
    it(name, async () => {
      checkFinite(parse(doc));
      const r = await fuzz(
        jsonMutations(Object.keys(doc)),
        (m) => checkFinite(parse(mutateJson(doc, m) as Record<string, unknown>)),
        isCheckpointError,
        { runs: fuzzRuns(1500), seed: fuzzSeed(1730 + name.length) },
      );
      logReport(name, r);
      expect(r.cases).toBe(fuzzRuns(1500));
    });
  }
});

describe('tokenizer folders under mutation', () => {
  // A small but real byte-level BPE: the Qwen3 tokenizer cut to its first 400 ids and the merges among them.
  const full = JSON.parse(readFileSync(join(ckpts, 'qwen3-tokenizer', 'tokenizer.json'), 'utf8'));
  const config = JSON.parse(readFileSync(join(ckpts, 'qwen3-tokenizer', 'tokenizer_config.json'), 'utf8'));
  const vocab = Object.fromEntries(Object.entries(full.model.vocab as Record<string, number>).filter(([, id]) => id < 400));
  const merges = (full.model.merges as [string, string][]).filter(([a, b]) => a in vocab && b in vocab && a + b in vocab);
  const small = {
    ...full,
    added_tokens: full.added_tokens.slice(0, 4).map((t: { id: number }, i: number) => ({ ...t, id: 400 + i })),
    model: { ...full.model, vocab, merges },
  };
  const smallConfig = { ...config, added_tokens_decoder: {} };

  /** Loads a folder and runs the calls the pipeline makes. */
  const exerciseText = (tokText: string | Uint8Array, cfgText: string) => {
    const d = join(tmp, `tok${fileNo++ % 64}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'tokenizer.json'), tokText);
    writeFileSync(join(d, 'tokenizer_config.json'), cfgText);
    const t = TextTokenizer.load(d);
    const ids = t.encode('calm piano, 120 bpm — 夜 🎹', { maxLength: 64 });
    t.decode(ids);
    t.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true });
  };
  const exercise = (tokJson: unknown, cfgJson: unknown) =>
    exerciseText(JSON.stringify(tokJson) ?? 'undefined', JSON.stringify(cfgJson) ?? 'undefined');
  const isTokenizerError = (e: unknown) => e instanceof TokenizerError;

  it('tokenizer.json', async () => {
    exercise(small, smallConfig);
    const r = await fuzz(
      jsonMutations(['model', 'vocab', 'merges', 'added_tokens', 'pre_tokenizer', 'decoder', 'type']),
      (m) => exercise(mutateJson(small, m), smallConfig),
      isTokenizerError,
      {
        runs: fuzzRuns(1500),
        seed: fuzzSeed(1740),
      },
    );
    logReport('tokenizer.json', r);
    expect(r.cases).toBe(fuzzRuns(1500));
  });

  it('tokenizer_config.json', async () => {
    const r = await fuzz(
      jsonMutations(['chat_template', 'eos_token', 'pad_token', 'bos_token']),
      (m) => exercise(small, mutateJson(smallConfig, m)),
      isTokenizerError,
      {
        runs: fuzzRuns(1000),
        seed: fuzzSeed(1741),
      },
    );
    logReport('tokenizer_config.json', r);
    expect(r.cases).toBe(fuzzRuns(1000));
  });

  it('JSON text damaged byte by byte', async () => {
    const text = new TextEncoder().encode(JSON.stringify(small));
    const r = await fuzz(
      byteMutations(text.length),
      (m) => exerciseText(mutateBytes(text, m), JSON.stringify(smallConfig)),
      isTokenizerError,
      { runs: fuzzRuns(500), seed: fuzzSeed(1742) },
    );
    logReport('tokenizer.json bytes', r);
    expect(r.cases).toBe(fuzzRuns(500));
  });
});
