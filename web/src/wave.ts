// Waveforms: peaks computed here (the browser's decoder first, then a plain WAV reader for files
// it refuses, such as very low sample rates), drawn by wavesurfer.js with the regions plugin for
// the repaint range. Playback uses an <audio> element on the blob URL.
import WaveSurfer from 'wavesurfer.js';
import RegionsPlugin, { type Region } from 'wavesurfer.js/dist/plugins/regions.esm.js';

export interface Peaks {
  peaks: Float32Array;
  duration: number;
}

const BUCKETS = 800;

function bucketPeaks(channels: Float32Array[], length: number): Float32Array {
  const out = new Float32Array(Math.min(BUCKETS, Math.max(1, length)));
  const per = length / out.length;
  for (let b = 0; b < out.length; b++) {
    let m = 0;
    const end = Math.min(length, Math.ceil((b + 1) * per));
    for (let i = Math.floor(b * per); i < end; i++) for (const c of channels) m = Math.max(m, Math.abs(c[i]));
    out[b] = m;
  }
  return out;
}

/** PCM (16/24/32-bit integer or 32-bit float) WAV samples, per channel; null when not such a WAV. */
function readWav(buf: ArrayBuffer): { channels: Float32Array[]; sampleRate: number } | null {
  const v = new DataView(buf);
  const tag = (o: number) => String.fromCharCode(v.getUint8(o), v.getUint8(o + 1), v.getUint8(o + 2), v.getUint8(o + 3));
  if (buf.byteLength < 44 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') return null;
  let fmt = 0,
    nch = 0,
    rate = 0,
    bits = 0,
    o = 12;
  while (o + 8 <= buf.byteLength) {
    const id = tag(o),
      size = v.getUint32(o + 4, true),
      body = o + 8;
    if (id === 'fmt ') {
      fmt = v.getUint16(body, true);
      nch = v.getUint16(body + 2, true);
      rate = v.getUint32(body + 4, true);
      bits = v.getUint16(body + 14, true);
      if (fmt === 0xfffe && size >= 26) fmt = v.getUint16(body + 24, true); // WAVE_FORMAT_EXTENSIBLE sub-format
    } else if (id === 'data') {
      if (!nch || !rate) return null;
      const bytes = bits / 8,
        frames = Math.floor(Math.min(size, buf.byteLength - body) / (bytes * nch));
      const channels = Array.from({ length: nch }, () => new Float32Array(frames));
      for (let f = 0; f < frames; f++) {
        for (let c = 0; c < nch; c++) {
          const p = body + (f * nch + c) * bytes;
          let x: number;
          if (fmt === 3 && bits === 32) x = v.getFloat32(p, true);
          else if (fmt === 1 && bits === 16) x = v.getInt16(p, true) / 32768;
          else if (fmt === 1 && bits === 24) x = (v.getUint8(p) | (v.getUint8(p + 1) << 8) | (v.getInt8(p + 2) << 16)) / 8388608;
          else if (fmt === 1 && bits === 32) x = v.getInt32(p, true) / 2147483648;
          else return null;
          channels[c][f] = x;
        }
      }
      return { channels, sampleRate: rate };
    }
    o = body + size + (size & 1);
  }
  return null;
}

export async function computePeaks(blob: Blob): Promise<Peaks> {
  const buf = await blob.arrayBuffer();
  try {
    const ctx = new OfflineAudioContext(1, 1, 8000);
    const audio = await ctx.decodeAudioData(buf.slice(0));
    const chans = Array.from({ length: audio.numberOfChannels }, (_, c) => audio.getChannelData(c));
    return { peaks: bucketPeaks(chans, audio.length), duration: audio.duration };
  } catch {
    const wav = readWav(buf);
    if (!wav) throw new Error('this browser cannot read the file');
    const len = wav.channels[0].length;
    return { peaks: bucketPeaks(wav.channels, len), duration: len / wav.sampleRate };
  }
}

type Regions = ReturnType<typeof RegionsPlugin.create>;

export interface WaveView {
  ws: WaveSurfer;
  regions?: Regions;
  /** Resolves once the waveform is drawn and its duration known. */
  ready: Promise<void>;
  destroy(): void;
}

const COLORS = { waveColor: '#8aa4c8', progressColor: '#2d5fa8', cursorColor: '#1b2b44' };

/** Draws `peaks` into `container`, playing through `media` (may be unplayable: the drawing still works). */
export function drawWave(container: HTMLElement, media: HTMLMediaElement, p: Peaks, withRegions = false): WaveView {
  const regions = withRegions ? RegionsPlugin.create() : undefined;
  const ws = WaveSurfer.create({
    container,
    media,
    peaks: [p.peaks],
    duration: p.duration,
    height: 64,
    barWidth: 2,
    barGap: 1,
    normalize: true,
    dragToSeek: !withRegions,
    plugins: regions ? [regions] : [],
    ...COLORS,
  });
  const ready = new Promise<void>((resolve) => {
    if (ws.getDuration() > 0) return resolve();
    ws.once('ready', () => resolve());
    setTimeout(resolve, 3000); // never wait forever on a media element that will not load
  });
  return { ws, regions, ready, destroy: () => ws.destroy() };
}

/** One draggable, resizable range on a repaint waveform; drag on empty space draws a new one. */
export function rangeSelector(
  view: WaveView,
  duration: number,
  onChange: (start: number, end: number) => void,
): (start: number, end: number) => void {
  const regions = view.regions!;
  let region: Region | undefined;
  const set = (start: number, end: number) => {
    region?.remove();
    region = regions.addRegion({ start, end, color: 'rgba(214, 120, 40, 0.28)', drag: true, resize: true });
  };
  regions.enableDragSelection({ color: 'rgba(214, 120, 40, 0.28)' });
  regions.on('region-created', (r: Region) => {
    if (region && r !== region) region.remove();
    region = r;
    onChange(r.start, r.end);
  });
  regions.on('region-updated', (r: Region) => onChange(r.start, r.end));
  const clamp = (x: number) => Math.min(duration, Math.max(0, x));
  return (start, end) => set(clamp(start), clamp(end));
}
