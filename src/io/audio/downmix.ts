// Multichannel input to stereo with the ITU-R BS.775 downmix coefficients: fronts to their side
// at 1, the centre to both at 1/sqrt(2), side and back surrounds to their side at 1/sqrt(2), a back
// centre to both at 1/2, the LFE dropped. Channel order is the WAVE / FLAC default order for the
// count (FL FR FC LFE BL BR, 7.1 adding SL SR); counts without a standard layout above eight
// alternate left and right. The result is clamped later with the rest of the input preparation.

const H = Math.SQRT1_2;

/** [left, right] gain of each channel for a layout of `n` channels. */
function gains(n: number): [number, number][] {
  const FL: [number, number] = [1, 0],
    FR: [number, number] = [0, 1],
    FC: [number, number] = [H, H],
    LFE: [number, number] = [0, 0];
  const SL: [number, number] = [H, 0],
    SR: [number, number] = [0, H],
    BC: [number, number] = [0.5, 0.5];
  switch (n) {
    case 3:
      return [FL, FR, FC];
    case 4:
      return [FL, FR, SL, SR]; // quad: FL FR BL BR
    case 5:
      return [FL, FR, FC, SL, SR];
    case 6:
      return [FL, FR, FC, LFE, SL, SR]; // 5.1
    case 7:
      return [FL, FR, FC, LFE, BC, SL, SR]; // 6.1
    case 8:
      return [FL, FR, FC, LFE, SL, SR, SL, SR]; // 7.1
    default:
      return Array.from({ length: n }, (_, i) => (i % 2 === 0 ? [H, 0] : [0, H]));
  }
}

/** One or more channels -> two: mono is duplicated, stereo kept, more downmixed. */
export function toStereo(channels: Float32Array[]): [Float32Array, Float32Array] {
  if (channels.length === 1) return [channels[0], channels[0]];
  if (channels.length === 2) return [channels[0], channels[1]];
  const n = channels[0].length;
  const l = new Float32Array(n),
    r = new Float32Array(n);
  gains(channels.length).forEach(([gl, gr], c) => {
    const x = channels[c];
    if (gl) for (let i = 0; i < n; i++) l[i] += gl * x[i];
    if (gr) for (let i = 0; i < n; i++) r[i] += gr * x[i];
  });
  return [l, r];
}
