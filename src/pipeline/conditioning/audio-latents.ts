// Audio -> 25 Hz latents the way the pipeline needs them (UPSTREAM.md: VAE): a tiled VAE encode of stereo
// PCM, then one posterior sample mean + std·randn. Upstream samples (it does not take the mean), so
// the noise is seeded here to keep source, reference and understand-from-audio reproducible.
import { add, mul, randn, tidy, Tensor } from '../../runtime/index.js';
import type { Pcm } from '../../io/audio/index.js';
import type { AceStep } from '../engine.js';

/** `[1, frames, C]` f32 latents of two-channel `pcm` on the engine's device (the caller disposes them). */
export function sampleAudioLatents(engine: AceStep, pcm: Pcm, seed: number): Tensor {
  const n = pcm.channels[0].length;
  const planar = new Float32Array(2 * n);
  planar.set(pcm.channels[0], 0);
  planar.set(pcm.channels[1], n);
  using audio = Tensor.fromArray(planar, [1, 2, n], { device: engine.device });
  const post = engine.vae.encodeTiled(audio);
  using mean = post.mean;
  using std = post.std;
  using eps = randn(mean.shape as number[], seed, { device: engine.device });
  return tidy(() => add(mean, mul(std, eps)).transpose(1, 2).contiguous());
}
