// A FLAC STREAMINFO reader for the tests, written from the format specification (RFC 9639 8.2)
// independently of src/io/audio: the fields a decoder-side check needs, including the MD5 of the
// unencoded audio.
export interface StreamInfo {
  minBlockSize: number;
  maxBlockSize: number;
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  totalSamples: number;
  /** Hex MD5 of the interleaved little-endian signed samples; 32 zeros = not set. */
  md5: string;
}

export function readStreamInfo(file: Uint8Array): StreamInfo {
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (b.toString('latin1', 0, 4) !== 'fLaC') throw new Error('not a FLAC stream (no fLaC marker)');
  const type = b[4] & 0x7f;
  const length = b.readUIntBE(5, 3);
  if (type !== 0 || length !== 34) throw new Error(`first metadata block is type ${type} of ${length} bytes, expected STREAMINFO (0, 34)`);
  const s = 8;
  // Bytes 10..17 of the block: 20 bits rate, 3 bits channels-1, 5 bits bps-1, 36 bits total samples.
  const packed = b.readBigUInt64BE(s + 10);
  return {
    minBlockSize: b.readUInt16BE(s),
    maxBlockSize: b.readUInt16BE(s + 2),
    sampleRate: Number(packed >> 44n),
    channels: Number((packed >> 41n) & 7n) + 1,
    bitsPerSample: Number((packed >> 36n) & 31n) + 1,
    totalSamples: Number(packed & 0xfffffffffn),
    md5: b.toString('hex', s + 18, s + 34),
  };
}
