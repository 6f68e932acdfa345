// `acestep serve` and `acestep worker`: the REST server's own commands (src/server/cli-serve.ts
// defines their flags, help and actions). They are loaded on use, so the rest of the command line
// starts without the server's packages.
import { Command } from 'commander';
import type { CliCommand, CliContext } from '../command.js';

function delegate(name: 'serve' | 'worker', description: string, ctx: CliContext): Command {
  const cmd = new Command(name)
    .description(`${description} (acestep ${name} --help lists its flags)`)
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async () => {
      const { runServerCli } = await import('../../server/cli-serve.js');
      ctx.exitCode = await runServerCli([name, ...cmd.args], ctx.io);
    });
  return cmd;
}

export const serveCommand: CliCommand = {
  register(program, ctx) {
    program.addCommand(delegate('serve', "REST server speaking upstream's API, with the web page at /", ctx));
  },
};

export const workerCommand: CliCommand = {
  register(program, ctx) {
    program.addCommand(delegate('worker', 'job worker for `acestep serve --redis` (one per machine or GPU)', ctx));
  },
};
