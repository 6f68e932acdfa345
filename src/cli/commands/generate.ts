// `acestep generate`: one generateMusic run. Every GenerationParams / GenerationConfig field is a
// flag; `--params` / `--config` JSON files give a base that flags override; audio files go to --out.
import { Command } from 'commander';
import { downloadCommand } from '../../io/hub-cache.js';
import { ensureOutputDir } from '../../io/output-dir.js';
import { resolveConfig, resolveParams } from '../../pipeline/params.js';
import { EXIT, type CliCommand } from '../command.js';
import { addEngineOptions, openEngine, type EngineFlags } from '../engine-options.js';
import { toJson } from '../output.js';
import { addParamOptions, CONFIG_TABLE, pickParams, PARAMS_TABLE } from '../param-flags.js';
import { CliProgress } from '../progress.js';
import { readJsonObject, readTextFile } from '../read-inputs.js';

/** LM audio codes per second of music (the 5 Hz LM). */
const CODES_PER_SECOND = 5;

interface GenerateFlags extends EngineFlags, Record<string, unknown> {
  params?: string;
  config?: string;
  lyricsFile?: string;
  out?: string;
}

export const generateCommand: CliCommand = {
  register(program, ctx) {
    const cmd = new Command('generate')
      .description('generate music from a caption and lyrics (or edit a source: --task-type cover|repaint|lego|extract|complete)')
      .option('--params <file.json>', 'GenerationParams as JSON (snake_case or camelCase); flags override it')
      .option('--config <file.json>', 'GenerationConfig as JSON; flags override it')
      .option('--lyrics-file <file>', 'read the lyrics from a text file')
      .option('--out <dir>', 'folder for the audio files (default ./outputs)');
    addEngineOptions(cmd);
    addParamOptions(cmd, PARAMS_TABLE);
    addParamOptions(cmd, CONFIG_TABLE);
    cmd.action(async (flags: GenerateFlags) => {
      const params = { ...(flags.params ? readJsonObject(flags.params, '--params') : {}), ...pickParams(flags, PARAMS_TABLE) };
      const config = { ...(flags.config ? readJsonObject(flags.config, '--config') : {}), ...pickParams(flags, CONFIG_TABLE) };
      if (flags.lyricsFile) params.lyrics = readTextFile(flags.lyricsFile, '--lyrics-file');
      // Reject bad parameters before any model is read.
      const p = resolveParams(params);
      resolveConfig(config);
      ensureOutputDir(flags.out ?? 'outputs');
      const progress = new CliProgress(ctx.io.stderr, flags.quiet);
      const engine = await openEngine(flags, progress);
      try {
        if (!engine.hasLm && p.thinking)
          progress.line(`note: no 5 Hz LM found, so no LM planning (thinking); \`${downloadCommand(['acestep-5Hz-lm-1.7B'])}\` gets one`);
        const codesTotal = p.duration > 0 ? Math.ceil(p.duration * CODES_PER_SECOND) : null;
        const { generateMusic } = await import('../../index.js');
        const r = await generateMusic(engine, params, config, {
          saveDir: flags.out ?? 'outputs',
          onProgress: (e) => progress.generation(e, codesTotal),
        });
        progress.endStage();
        const audios = r.audios.map(({ channels: _pcm, ...a }) => a);
        if (flags.json) ctx.io.stdout.write(toJson({ ...r, audios }));
        else if (r.success) {
          const seconds = (r.extraOutputs.latentFrames / engine.frameRate).toFixed(1);
          for (const a of audios) ctx.io.stdout.write(`${a.path}\tseed ${String(a.params.seed)}\t${seconds} s\n`);
        }
        if (!r.success) ctx.io.stderr.write(`acestep: generation failed: ${r.error}\n`);
        ctx.exitCode = r.success ? EXIT.ok : EXIT.failed;
      } finally {
        engine.dispose();
      }
    });
    program.addCommand(cmd);
  },
};
