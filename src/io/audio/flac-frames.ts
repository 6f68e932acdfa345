// Splits a native FLAC stream into its audio frames without trusting any single sync code: a frame
// starts at a frame sync (0xFFF8 / 0xFFF9) and ends where the CRC-16 of its bytes matches its last
// two bytes. decode.ts falls back to this when the decoder's own frame parser comes up short of
// STREAMINFO's sample count, which happens when a frame's payload happens to contain a byte run
// that looks like a frame header.

/** CRC-16 of the FLAC frame footer (polynomial 0x8005, initial value 0, MSB first). */
const CRC16 = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x8005) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/** Byte offset of the first frame: after "fLaC" and the metadata blocks (last-block flag, 24-bit length). */
function firstFrameOffset(b: Uint8Array): number {
  let at = 4;
  for (;;) {
    if (at + 4 > b.length) return b.length;
    const last = (b[at] & 0x80) !== 0;
    at += 4 + ((b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]);
    if (last) return Math.min(at, b.length);
  }
}

/**
 * The frames of a native FLAC file in order; bytes that form no CRC-valid frame are skipped. The
 * search is bounded (each frame start looks at most `maxFrameBytes` ahead, and the whole split
 * stops after `budget` CRC steps), so a damaged file costs linear time: the caller reports it.
 */
export function splitFlacFrames(b: Uint8Array, maxFrameBytes = 1 << 22, budget = 64 * b.length + (1 << 20)): Uint8Array[] {
  const syncs: number[] = [];
  for (let i = firstFrameOffset(b); i + 1 < b.length; i++) if (b[i] === 0xff && (b[i + 1] & 0xfe) === 0xf8) syncs.push(i);
  syncs.push(b.length);
  const frames: Uint8Array[] = [];
  let s = 0;
  while (s < syncs.length - 1 && budget > 0) {
    const start = syncs[s];
    // CRC of [start, at) grown byte by byte; a frame ends at a sync (or the end) whose two
    // preceding bytes are the CRC of everything before them.
    let crc = 0;
    let at = start;
    let next = -1;
    for (let e = s + 1; e < syncs.length && syncs[e] - start <= maxFrameBytes && budget > 0; e++) {
      const end = syncs[e];
      const from = at;
      for (; at < end - 2; at++) crc = ((crc << 8) & 0xffff) ^ CRC16[(crc >> 8) ^ b[at]];
      budget -= at - from + 1;
      if (end - start >= 6 && crc === ((b[end - 2] << 8) | b[end - 1])) {
        next = e;
        break;
      }
    }
    if (next < 0) {
      s++;
      continue;
    }
    frames.push(b.subarray(start, syncs[next]));
    s = next;
  }
  return frames;
}
