// The LM-only commands: `understand` (audio codes or an audio file -> caption, lyrics, metadata),
// `create-sample` (a free query -> a full sample) and `format-sample` (caption + lyrics -> expanded
// caption, metadata, formatted lyrics), each with every LM sampling flag and token progress.
import { Command } from 'commander';
import type { AceStep, UnderstandResult } from '../../index.js';
import { EXIT, UsageError, type CliCommand, type CliContext } from '../command.js';
import { addEngineOptions, openEngine, type EngineFlags } from '../engine-options.js';
import { addLmSamplingOptions, lmCallOptions } from '../lm-options.js';
import { summaryLines, toJson } from '../output.js';
import { addParamOptions, PARAMS_TABLE } from '../param-flags.js';
import { CliProgress } from '../progress.js';
import { readTextFile } from '../read-inputs.js';

type Flags = EngineFlags & Record<string, unknown>;

/** Validates, loads the engine, runs one helper and prints its result. */
function helperAction(
  ctx: CliContext,
  label: string,
  check: (f: Flags) => void,
  run: (engine: AceStep, f: Flags, progress: CliProgress) => Promise<UnderstandResult>,
) {
  return async (flags: Flags) => {
    check(flags);
    const progress = new CliProgress(ctx.io.stderr, flags.quiet);
    lmCallOptions(flags, progress, label); // range errors before loading
    const engine = await openEngine(flags, progress);
    try {
      const r = await run(engine, flags, progress);
      progress.endStage();
      if (flags.json) ctx.io.stdout.write(toJson(r));
      else if (r.success) {
        const { success: _s, error: _e, statusMessage: _m, audioCodes: _c, ...fields } = r;
        ctx.io.stdout.write(summaryLines(fields));
      }
      if (!r.success) ctx.io.stderr.write(`acestep: ${label} failed: ${r.error}\n`);
      ctx.exitCode = r.success ? EXIT.ok : EXIT.failed;
    } finally {
      engine.dispose();
    }
  };
}

function helper(name: string, description: string): Command {
  const cmd = new Command(name).description(description);
  addEngineOptions(cmd);
  return cmd;
}

export const understandCommand: CliCommand = {
  register(program, ctx) {
    const cmd = helper('understand', 'describe music: caption, lyrics and metadata from audio codes or an audio file');
    addParamOptions(cmd, PARAMS_TABLE, ['audioCodes', 'srcAudio']);
    addLmSamplingOptions(cmd);
    cmd.action(
      helperAction(
        ctx,
        'understand',
        (f) => {
          if (!f.audioCodes && !f.srcAudio) throw new UsageError('understand needs --audio-codes <codes> or --src-audio <file>');
        },
        async (engine, f, progress) =>
          (await import('../../index.js')).understandMusic(
            engine,
            { audioCodes: f.audioCodes as string | undefined, srcAudio: f.srcAudio as string | undefined },
            lmCallOptions(f, progress, 'LM understand'),
          ),
      ),
    );
    program.addCommand(cmd);
  },
};

export const createSampleCommand: CliCommand = {
  register(program, ctx) {
    const cmd = helper('create-sample', 'write a full sample (caption, lyrics, metadata) from a free description');
    cmd.option('--query <text>', 'what the song should be');
    addParamOptions(cmd, PARAMS_TABLE, ['instrumental', 'vocalLanguage']);
    addLmSamplingOptions(cmd);
    cmd.action(
      helperAction(
        ctx,
        'create-sample',
        () => {},
        async (engine, f, progress) =>
          (await import('../../index.js')).createSample(
            engine,
            {
              query: String(f.query ?? ''),
              instrumental: f.instrumental === true,
              vocalLanguage: (f.vocalLanguage as string | undefined) ?? null,
            },
            lmCallOptions(f, progress, 'LM sample'),
          ),
      ),
    );
    program.addCommand(cmd);
  },
};

export const formatSampleCommand: CliCommand = {
  register(program, ctx) {
    const cmd = helper('format-sample', 'expand a caption and format lyrics, filling the metadata not given');
    cmd.option('--lyrics-file <file>', 'read the lyrics from a text file');
    addParamOptions(cmd, PARAMS_TABLE, ['caption', 'lyrics', 'bpm', 'duration', 'keyscale', 'timesignature', 'vocalLanguage']);
    addLmSamplingOptions(cmd);
    cmd.action(
      helperAction(
        ctx,
        'format-sample',
        (f) => {
          if (f.lyricsFile) f.lyrics = readTextFile(String(f.lyricsFile), '--lyrics-file');
        },
        async (engine, f, progress) =>
          (await import('../../index.js')).formatSample(
            engine,
            {
              caption: String(f.caption ?? ''),
              lyrics: String(f.lyrics ?? ''),
              userMetadata: {
                bpm: f.bpm as number | undefined,
                duration: f.duration as number | undefined,
                keyscale: f.keyscale as string | undefined,
                timesignature: f.timesignature as string | undefined,
                language: f.vocalLanguage as string | undefined,
              },
            },
            lmCallOptions(f, progress, 'LM format'),
          ),
      ),
    );
    program.addCommand(cmd);
  },
};
