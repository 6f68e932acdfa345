// Audio-code strings and the FSQ arithmetic of the audio tokenizer (host side), plus the full
// tokenizer on the tiny checkpoint: indices must round-trip through the code string and the
// codebook lookup (exact), and a bad silence latent / mask is a typed error. Float parity with
// upstream is the golden case `audio_tokenizer` (test/golden.test.ts).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ShapeError, Tensor, tidyAsync } from '../src/runtime/index.js';
import { openAceStepCheckpoint } from '../src/models/acestep-config.js';
import { AudioCodeError, AudioTokenizer, FSQ, formatAudioCodes, parseAudioCodes } from '../src/models/audio-tokenizer.js';

const ckptDir = join(import.meta.dirname, 'fixtures', 'golden', 'checkpoints', 'acestep-v15-turbo-tiny');

describe('audio code strings', () => {
  it('parses and formats <|audio_code_N|> tokens', () => {
    const s = formatAudioCodes([0, 18059, 63999]);
    expect(s).toBe('<|audio_code_0|><|audio_code_18059|><|audio_code_63999|>');
    expect(parseAudioCodes(s)).toEqual([0, 18059, 63999]);
    // Text around and between the tokens is ignored, as upstream's findall does.
    expect(parseAudioCodes('codes: <|audio_code_5|>\n<|audio_code_7|> end')).toEqual([5, 7]);
  });

  it('clamps values above the codebook like upstream', () => {
    expect(parseAudioCodes('<|audio_code_64000|><|audio_code_99999|>')).toEqual([63999, 63999]);
  });

  it('rejects strings without codes, malformed tokens and out-of-range indices', () => {
    expect(() => parseAudioCodes('no codes here')).toThrow(AudioCodeError);
    expect(() => parseAudioCodes('<|audio_code_1|><|audio_code_x|>')).toThrow(/malformed audio code token at offset 16/);
    expect(() => parseAudioCodes('<|audio_code_|>')).toThrow(AudioCodeError);
    expect(() => formatAudioCodes([1, -1])).toThrow(/audio code 1 is -1/);
    expect(() => formatAudioCodes([64000])).toThrow(AudioCodeError);
  });
});

describe('FSQ', () => {
  const fsq = new FSQ([8, 8, 8, 5, 5, 5]);

  it('has the upstream basis and codebook size', () => {
    expect(fsq.basis).toEqual([1, 8, 64, 512, 2560, 12800]);
    expect(fsq.codebookSize).toBe(64000);
  });

  it('quantize and the codebook lookup agree (indices are a bijection onto the codes)', () => {
    // Deterministic pseudo-random projections spanning the soft-clamp range.
    const n = 500;
    const z = new Float32Array(n * 6);
    let s = 12345;
    for (let i = 0; i < z.length; i++) {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      z[i] = (s / 2 ** 31) * 8 - 4;
    }
    const { indices, codes } = fsq.quantize(z);
    for (const idx of indices) expect(idx >= 0 && idx < 64000).toBe(true);
    expect(Array.from(fsq.codesFromIndices(indices))).toEqual(Array.from(codes));
    // Every code is one of the L levels {2b/(L-1) - 1}.
    for (let i = 0; i < codes.length; i++) {
      const l = fsq.levels[i % 6];
      const b = ((codes[i] + 1) * (l - 1)) / 2;
      expect(Math.abs(b - Math.round(b))).toBeLessThan(1e-5);
    }
  });

  it('maps large |z| to the end levels and z = 0 to the middle (round half up)', () => {
    const { indices, codes } = fsq.quantize(
      Float32Array.from([100, 100, 100, 100, 100, 100, -100, -100, -100, -100, -100, -100, 0, 0, 0, 0, 0, 0]),
    );
    expect(indices[0]).toBe(63999);
    expect(indices[1]).toBe(0);
    // L=8: floor(7*(0+1)/2 + 0.5) = 4 -> code (2/7)*4 - 1 in float32; L=5: 2 -> code 0.
    const c8 = Math.fround(Math.fround(2 / 7) * 4 - 1);
    expect(Array.from(codes.subarray(12))).toEqual([c8, c8, c8, 0, 0, 0]);
  });
});

describe('AudioTokenizer (tiny checkpoint)', () => {
  it('tokenize -> code string -> codebook lookup reproduces the quantized frames exactly', async () => {
    await tidyAsync(async () => {
      const { ckpt, config, weights } = openAceStepCheckpoint(ckptDir);
      const tok = new AudioTokenizer(weights, config);
      ckpt.dispose();
      const t = 12;
      const lat = Tensor.fromArray(
        Float32Array.from({ length: t * 64 }, (_, i) => Math.sin(i * 0.37)),
        [1, t, 64],
      );
      const silence = Tensor.fromArray(
        Float32Array.from({ length: 10 * 64 }, (_, i) => Math.cos(i * 0.11) * 0.1),
        [1, 10, 64],
      );
      const r = await tok.tokenize(lat, silence);
      expect(r.frames5Hz).toBe(3);
      expect(Array.from(r.tokenMask)).toEqual([1, 1, 1]);
      const back = tok.hintsFromCodeString(formatAudioCodes(r.indices), { targetFrames: 13, silenceLatent: silence });
      expect(back.indices).toEqual(Array.from(r.indices));
      expect(Array.from(await back.quantized.toFloat32())).toEqual(Array.from(await r.quantized.toFloat32()));
      expect(back.hints.shape).toEqual([1, 13, 64]);
      // Padding appends the first silence frames (upstream _prepare_precomputed_lm_hints).
      const padded = tok.hintsFromCodeString(formatAudioCodes(r.indices), { targetFrames: 18, silenceLatent: silence });
      expect(Array.from(await padded.hints.narrow(1, 15, 3).contiguous().toFloat32())).toEqual(
        Array.from((await silence.toFloat32()).subarray(0, 3 * 64)),
      );
      expect(() => tok.hintsFromCodeString(formatAudioCodes(r.indices), { targetFrames: 40, silenceLatent: silence })).toThrow(
        /needs a silence latent/,
      );
      // Without padding the detokenizer yields 5 frames per code.
      expect(tok.detokenize(r.quantized).shape).toEqual([1, 15, 64]);
      await expect(tok.tokenize(lat, silence.narrow(1, 0, 2))).rejects.toThrow(ShapeError);
      await expect(tok.tokenize(lat, silence, [1, 1])).rejects.toThrow(/mask has 2 values/);
      tok.dispose();
    });
  });
});
