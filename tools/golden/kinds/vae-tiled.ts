// Golden kind for upstream's tiled VAE decode: the direct decode, the overlap-discard tiled decode
// with the manifest's chunk / overlap, and the overlap-reduction rule (overlap = chunk requested).
// Upstream's CPU-offload path (`decoded_tiled_offload_path`) is the same arithmetic written into a
// preallocated buffer, which is how decodeTiled always works, so both outputs come from one call.
import { effectiveOverlap, OobleckVae } from '../../../src/models/vae.js';
import { GoldenCaseError, type Actual, type CaseKind, type GoldenCase } from '../case.js';

interface Params {
  chunk_size: number;
  overlap: number;
  n_tiles: number;
  overlap_reduced_case: { requested_overlap: number; effective_overlap: number };
}

const kind: CaseKind = {
  cases: ['vae_tiled'],
  async run(c: GoldenCase, opts) {
    const p = c.params<Params>();
    const vae = OobleckVae.load(c.checkpoint, { device: opts.backend });
    vae.setPrecision(opts.precision ?? 'fp32');
    try {
      const z = c.inputOn('latents', opts.backend);
      const reduced = p.overlap_reduced_case;
      const eff = effectiveOverlap(p.chunk_size, reduced.requested_overlap);
      if (eff !== reduced.effective_overlap) {
        throw new GoldenCaseError(
          c.dir,
          `overlap ${reduced.requested_overlap} reduces to ${eff}, upstream to ${reduced.effective_overlap}`,
        );
      }
      let tiles = 0;
      const tiled = vae.decodeTiled(z, { chunkSize: p.chunk_size, overlap: p.overlap, onProgress: (_, total) => (tiles = total) });
      const perItem = tiles / z.shape[0];
      if (perItem !== p.n_tiles) throw new GoldenCaseError(c.dir, `decoded ${perItem} tiles per item, upstream ${p.n_tiles}`);
      return [
        { name: 'decoded_full', value: vae.decode(z) },
        { name: 'decoded_tiled', value: tiled },
        { name: 'decoded_tiled_offload_path', value: tiled },
        {
          name: 'decoded_tiled_overlap_reduced',
          value: vae.decodeTiled(z, { chunkSize: p.chunk_size, overlap: reduced.requested_overlap }),
        },
      ] satisfies Actual[];
    } finally {
      vae.dispose();
    }
  },
};

export default kind;
