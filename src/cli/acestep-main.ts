// The `acestep` command line (commander): the sub-commands of commands/ (generate, understand,
// create-sample, format-sample, download), --version, exit codes in --help. Results go to stdout,
// progress and errors to stderr. runCli resolves to the exit code instead of exiting, so tests and
// embedders can call it.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { EXIT, EXIT_CODES_HELP, exitCodeOf, UsageError, type CliContext, type CliIo } from './command.js';
import { COMMANDS } from './commands/index.js';
import { normalizeFlagNames } from './param-flags.js';

/** The package version, from the package.json above this file (src/ or dist/src/). */
export function packageVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'acestep') return pkg.version ?? '0.0.0';
    }
  }
  return '0.0.0';
}

function buildProgram(ctx: CliContext): Command {
  const program = new Command('acestep')
    .description('ACE-Step 1.5 music generation: text to music, covers, repaints and LM helpers')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `\nModels come from --checkpoints DIR or the Hugging Face cache (\`acestep download\` fills it).\n\n${EXIT_CODES_HELP}`,
    )
    .configureOutput({ writeOut: (s) => void ctx.io.stdout.write(s), writeErr: (s) => void ctx.io.stderr.write(s) })
    .exitOverride();
  for (const c of COMMANDS) c.register(program, ctx);
  for (const sub of program.commands) {
    sub
      .exitOverride()
      .configureOutput({ writeOut: (s) => void ctx.io.stdout.write(s), writeErr: (s) => void ctx.io.stderr.write(s) })
      .addHelpText('after', `\n${EXIT_CODES_HELP}`);
  }
  return program;
}

/** Runs one command line (without `node acestep`); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const ctx: CliContext = { io, exitCode: EXIT.ok };
  const program = buildProgram(ctx);
  if (argv.length === 0) {
    io.stderr.write(program.helpInformation());
    return EXIT.usage;
  }
  try {
    await program.parseAsync(normalizeFlagNames(argv), { from: 'user' });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with code 0; parse errors were already printed.
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    io.stderr.write(`acestep: ${(e as Error).message}\n`);
    if (e instanceof UsageError) io.stderr.write('(run with --help for usage)\n');
    return exitCodeOf(e);
  }
}
