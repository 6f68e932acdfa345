// `npm run demo`: the main job end to end, a 30 s song with LM thinking. The weights come from
// `--checkpoints <root>` (the official layout), else from the Hugging Face cache that
// `acestep download` fills. With neither, it says so, writes tiny random-weight checkpoints in the
// official layout and runs the whole pipeline (LM plan, text encoder, DiT, VAE, FLAC writer) on
// them in seconds: the audio is noise, and it prints the one command that gets the real weights.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CliProgress } from '../src/cli/progress.js';
import { AceStep, DEFAULT_MODELS, downloadCommand, generateMusic, hubCacheDir } from '../src/index.js';
import { hubCacheSource } from '../src/io/hub-cache.js';
import { makeTinyCheckpoints } from './make-tiny-checkpoints.js';

function noWeightsNotice(cache: string): string {
  return [
    `No ACE-Step weights found (no --checkpoints, and the Hugging Face cache ${cache} lacks ${DEFAULT_MODELS.filter((m) => !hubCacheSource(cache).find(m)).join(', ')}).`,
    'This demo runs on tiny RANDOM weights instead: every stage runs, but the audio is noise.',
    'For a real song, download the official weights (about 10 GB) once, then run `npm run demo` again:',
    `  ${downloadCommand()}`,
  ].join('\n');
}

/** Runs the demo; resolves to the exit code. */
export async function runDemo(argv: string[]): Promise<number> {
  const at = argv.indexOf('--checkpoints');
  const given = at >= 0 ? argv[at + 1] : undefined;
  const cache = hubCacheDir();
  const cached = !given && DEFAULT_MODELS.every((m) => hubCacheSource(cache).find(m) !== null);
  const real = given !== undefined || cached;
  if (!real) console.error(`${noWeightsNotice(cache)}\n`);
  const checkpoints = given ?? (cached ? null : makeTinyCheckpoints(join(mkdtempSync(join(tmpdir(), 'acestep-demo-')), 'checkpoints')));
  const progress = new CliProgress(process.stderr);
  const engine = await AceStep.load({ checkpoints, device: 'auto', onLoad: (e) => progress.load(e) });
  try {
    const started = Date.now();
    const r = await generateMusic(
      engine,
      {
        caption: 'An upbeat synth-pop track with bright analog synths, punchy drums and a catchy female vocal hook.',
        lyrics: '[Verse]\nCity lights are calling out my name\n\n[Chorus]\nWe run into the neon night',
        duration: 30,
        thinking: true,
        useCotCaption: false,
        bpm: real ? null : 120,
        keyscale: real ? '' : 'F# minor',
        timesignature: real ? '' : '4',
      },
      { batchSize: 1, audioFormat: 'flac' },
      { saveDir: join(process.cwd(), 'outputs'), onProgress: (e) => progress.generation(e, 30 * 5) },
    );
    progress.endStage();
    if (!r.success) {
      console.error(`generation failed: ${r.error}`);
      return 1;
    }
    for (const a of r.audios) console.log(`wrote ${a.path} (${a.sampleRate} Hz) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(JSON.stringify(r.extraOutputs.timeCosts));
    if (!real) console.error(`\nThat file is noise from random weights. ${downloadCommand()} gets the real ones.`);
    return 0;
  } finally {
    engine.dispose();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runDemo(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
