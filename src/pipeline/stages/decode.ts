// Stage: VAE decode (UPSTREAM.md: Post-processing and saving). The DiT latents are checked (NaN/Inf
// or all zeros cannot be decoded), rescaled/shifted when asked, and decoded by the tiled VAE
// decoder to planar stereo, one tile at a time: each tile is waited for, so its progress event is
// real and a cancel is honoured between tiles.
import { freemem } from 'node:os';
import { flush, tidy, Tensor } from '../../runtime/index.js';
import { checkAbort, seconds, GenerationNumericError, type RunContext } from './context.js';

/**
 * VAE decode budget on the CPU: half the free memory (2-16 GiB). Every extra window re-decodes
 * 2x64 frames of overlap, so a whole 30 s song (750 frames, ~4.4 GiB of activations) should fit
 * in one window wherever the memory allows.
 */
function cpuDecodeBudget(): number {
  const GiB = 1024 ** 3;
  return Math.min(16 * GiB, Math.max(2 * GiB, freemem() / 2));
}

/** Latents [B, T, C] (rescaled in place) -> audio [B, 2, T * hop]. */
export async function decodeLatents(ctx: RunContext, lat: Float32Array, shape: [number, number, number]): Promise<Float32Array> {
  const { engine, p } = ctx;
  const { signal, onProgress } = ctx.opts;
  const dev = engine.device;
  let allZero = true;
  for (let i = 0; i < lat.length; i++) {
    if (!Number.isFinite(lat[i])) throw new GenerationNumericError('the DiT produced NaN or Inf latents');
    if (lat[i] !== 0) allZero = false;
  }
  if (allZero) throw new GenerationNumericError('the DiT produced all-zero latents');
  if (p.latentRescale !== 1 || p.latentShift !== 0)
    for (let i = 0; i < lat.length; i++) lat[i] = Math.fround(lat[i] * p.latentRescale + p.latentShift);
  checkAbort(signal, 'VAE decode');
  const t0 = performance.now();
  using z = tidy(() => Tensor.fromArray(lat, shape, { device: dev }).transpose(1, 2).contiguous());
  const tiles = engine.vae.decodeTiles(z, { memoryBudgetBytes: dev === 'cpu' ? cpuDecodeBudget() : undefined });
  using out = engine.vae.tiledOutput(z);
  for (const [i, tile] of tiles.entries()) {
    if (i > 0) checkAbort(signal, `VAE tile ${i + 1} of ${tiles.length}`);
    engine.vae.decodeTile(z, out, tile);
    await flush();
    onProgress?.({ stage: 'vae', tile: i + 1, total: tiles.length });
  }
  const wav = Float32Array.from(await out.toFloat32());
  ctx.timeCosts.dit_vae_decode_time_cost = seconds(t0);
  return wav;
}
