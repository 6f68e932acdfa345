// `acestep download [NAME...]`: the official models from the Hugging Face Hub into the standard
// cache (or --cache-dir), resumable and verified, with a byte/rate/ETA bar per model.
import { Command } from 'commander';
import { DEFAULT_MODELS, hubCacheDir, OFFICIAL_MODELS } from '../../io/hub-cache.js';
import { downloadModels } from '../../io/hub-download.js';
import { EXIT, type CliCommand } from '../command.js';
import { toJson } from '../output.js';
import { CliProgress, formatBytes } from '../progress.js';

export const downloadCommand: CliCommand = {
  register(program, ctx) {
    const cmd = new Command('download')
      .description('download official models into the Hugging Face cache (resumable; sha256/size verified)')
      .argument('[name...]', `models (default: ${DEFAULT_MODELS.join(' ')})`)
      .option('--cache-dir <dir>', 'hub cache folder (default: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)')
      .option('--revision <rev>', 'branch or commit (default main)')
      .option('--json', 'print the downloaded folders as JSON')
      .option('-q, --quiet', 'no progress on stderr')
      .addHelpText(
        'after',
        `\nModels: ${Object.keys(OFFICIAL_MODELS).join(', ')}\nEnvironment: HF_TOKEN (access token), HF_ENDPOINT (hub URL or mirror), HF_HOME / HF_HUB_CACHE (cache folder).\nThe engine and every command find these models without --checkpoints.`,
      )
      .action(async (names: string[], flags: { cacheDir?: string; revision?: string; json?: boolean; quiet?: boolean }) => {
        const progress = new CliProgress(ctx.io.stderr, flags.quiet);
        const cacheDir = flags.cacheDir ?? hubCacheDir();
        const list = names.length ? names : DEFAULT_MODELS;
        progress.line(`downloading ${list.join(', ')} into ${cacheDir}`);
        const got = await downloadModels(list, { cacheDir, revision: flags.revision, onProgress: (e) => progress.download(e) });
        progress.endStage();
        if (flags.json) ctx.io.stdout.write(toJson(got));
        else for (const m of got) ctx.io.stdout.write(`${m.name}\t${m.dir}\t(${formatBytes(m.fetchedBytes)} fetched)\n`);
        ctx.exitCode = EXIT.ok;
      });
    program.addCommand(cmd);
  },
};
