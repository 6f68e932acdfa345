// Golden kind for output post-processing: VAE decode of [B, T, C] latents (the handler transposes
// them to [B, C, T]) and per-item peak limiting of the decoded audio, -1 dBFS peak
// normalisation (and its near-silent bypass), linear fades, and the sha256 file key of two
// parameter dicts (the manifest's JSON strings must be reproduced byte for byte, with the
// pipeline's own list of float-typed parameters).
import { keyFromParams, limitPeak, normalizePeak, applyFades, pythonJsonDumps } from '../../../src/io/audio/postprocess.js';
import { OobleckVae } from '../../../src/models/vae.js';
import { Tensor } from '../../../src/runtime/tensor.js';
import type { Actual, CaseKind, GoldenCase } from '../case.js';
import { concatFloat32, GoldenCaseError } from '../case.js';
import { FLOAT_PARAM_KEYS } from '../../../src/pipeline/results.js';

interface Params {
  normalization_db: number;
  sample_rate: number;
  fade_in_s: number;
  fade_out_s: number;
  uuid_cases: { params: Record<string, unknown>; json: string; key: string }[];
}

/** Splits a [..., N] tensor's data into rows of N (channels). */
function rows(t: Tensor): Float32Array[] {
  const d = t.toFloat32Sync();
  const n = t.shape[t.ndim - 1];
  return Array.from({ length: d.length / n }, (_, i) => d.subarray(i * n, (i + 1) * n));
}

const kind: CaseKind = {
  cases: ['postprocess'],
  async run(c: GoldenCase, opts) {
    const p = c.params<Params>();
    for (const u of p.uuid_cases) {
      const json = pythonJsonDumps(u.params, FLOAT_PARAM_KEYS);
      if (json !== u.json) throw new GoldenCaseError(c.dir, `parameter JSON differs:\n  ours     ${json}\n  expected ${u.json}`);
      const key = keyFromParams(u.params, FLOAT_PARAM_KEYS);
      if (key !== u.key) throw new GoldenCaseError(c.dir, `file key ${key}, expected ${u.key}`);
    }

    // Handler stage: decode, then per batch item [C, N] divide by the item's peak when it exceeds 1.
    const vae = OobleckVae.load(c.checkpoint, { device: opts.backend });
    let raw: Tensor;
    try {
      const latents = c.input('pred_latents');
      const z = latents.transpose(1, 2).toDevice(opts.backend);
      raw = vae.decode(z);
      z.dispose();
      latents.dispose();
    } finally {
      vae.dispose();
    }
    const [b, ch] = raw.shape;
    const all = rows(raw);
    const limited: Float32Array[] = [];
    for (let i = 0; i < b; i++) limited.push(...limitPeak(all.slice(i * ch, (i + 1) * ch)));

    // Library stage on one item [2, N]: normalise over all channels, then fade.
    const audio = c.input('audio');
    const shape = audio.shape;
    const normalized = normalizePeak(rows(audio), p.normalization_db);
    audio.dispose();
    const faded = applyFades(
      normalized.map((x) => Float32Array.from(x)),
      p.sample_rate,
      p.fade_in_s,
      p.fade_out_s,
    );
    const quiet = c.input('near_silent_audio');
    const quietShape = quiet.shape;
    const quietNorm = normalizePeak(rows(quiet), p.normalization_db);
    quiet.dispose();

    const out: Actual[] = [
      { name: 'decoded_raw', value: raw },
      { name: 'decoded_peak_limited', value: Tensor.fromArray(concatFloat32(limited), [b, ch, all[0].length]) },
      { name: 'normalized', value: Tensor.fromArray(concatFloat32(normalized), shape) },
      { name: 'normalized_then_faded', value: Tensor.fromArray(concatFloat32(faded), shape) },
      { name: 'near_silent_normalized', value: Tensor.fromArray(concatFloat32(quietNorm), quietShape) },
    ];
    return out;
  },
};

export default kind;
