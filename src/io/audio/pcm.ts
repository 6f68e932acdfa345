// Planar float PCM as the audio code passes it around: one Float32Array per channel, all of the
// same length, nominally in [-1, 1].

export interface Pcm {
  sampleRate: number;
  channels: Float32Array[];
}

export function pcmLength(a: Pcm): number {
  return a.channels.length ? a.channels[0].length : 0;
}

/** Interleaves channels (frame-major), the layout the encoders take. */
export function interleave(channels: Float32Array[]): Float32Array {
  const c = channels.length;
  const n = c ? channels[0].length : 0;
  const out = new Float32Array(n * c);
  for (let ch = 0; ch < c; ch++) {
    const src = channels[ch];
    for (let i = 0; i < n; i++) out[i * c + ch] = src[i];
  }
  return out;
}

/** Float samples to signed 16-bit with clipping: round(x * 32767), the libsndfile convention. */
export function toInt16(x: Float32Array): Int16Array {
  const out = new Int16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = Math.round(x[i] * 32767);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}
