// `npm run demo`: the main job end to end. With `--checkpoints <root>` (the official layout, e.g. a
// download of ACE-Step/Ace-Step1.5) it generates a 30 s song with LM thinking; without it, it first
// writes tiny random-weight checkpoints in the official layout, so the whole pipeline (LM plan, text
// encoder, DiT, VAE, FLAC writer) runs on any fresh machine in seconds (the audio is noise).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AceStep, generateMusic } from '../src/index.js';
import { makeTinyCheckpoints } from './make-tiny-checkpoints.js';

async function main(argv: string[]): Promise<number> {
  const at = argv.indexOf('--checkpoints');
  const real = at >= 0 ? argv[at + 1] : undefined;
  const checkpoints = real ?? makeTinyCheckpoints(join(mkdtempSync(join(tmpdir(), 'acestep-demo-')), 'checkpoints'));
  if (!real) console.error(`no --checkpoints given: using tiny random checkpoints in ${checkpoints}`);
  const engine = await AceStep.load({ checkpoints, device: 'auto' });
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
      {
        saveDir: join(process.cwd(), 'outputs'),
        onProgress: (e) => {
          if (e.stage !== 'lm' || e.step === 0) process.stderr.write(`${JSON.stringify(e)}\n`);
        },
      },
    );
    if (!r.success) {
      console.error(`generation failed: ${r.error}`);
      return 1;
    }
    for (const a of r.audios) console.log(`wrote ${a.path} (${a.sampleRate} Hz) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.log(JSON.stringify(r.extraOutputs.timeCosts));
    return 0;
  } finally {
    engine.dispose();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
