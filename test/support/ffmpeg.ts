// The independent reference codec of the audio tests: the ffmpeg binary that the
// @ffmpeg-installer/ffmpeg package ships inside node_modules (no system install needed), and
// music-metadata for the stream's declared rate and channel count.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { parseFile } from 'music-metadata';

const require = createRequire(import.meta.url);
/** Absolute path of the packaged ffmpeg binary. */
export const FFMPEG: string = (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;

/** Runs the packaged ffmpeg; throws with its stderr on failure. */
export function ffmpeg(args: string[]): Buffer {
  try {
    return execFileSync(FFMPEG, ['-nostdin', '-v', 'error', ...args], { maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`ffmpeg ${args.join(' ')} failed: ${err.stderr?.toString() || err.message}`);
  }
}

/** ffmpeg's decode of a file as interleaved f32, with the rate and channel count its header declares. */
export async function ffmpegDecode(path: string): Promise<{ rate: number; channels: number; data: Float32Array }> {
  const { format } = await parseFile(path, { duration: false, skipCovers: true });
  const raw = ffmpeg(['-i', path, '-f', 'f32le', '-acodec', 'pcm_f32le', '-']);
  return {
    rate: format.sampleRate ?? NaN,
    channels: format.numberOfChannels ?? NaN,
    data: new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length)),
  };
}
