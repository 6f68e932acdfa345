// What every `acestep` sub-command shares: the streams it writes to, its exit codes and the shape
// of a command module (commands/<name>.ts registers itself on the program).
import type { Command } from 'commander';
import { CheckpointError, OutputDirError } from '../io/errors.js';
import { DownloadError } from '../io/hub-download.js';
import { ParamError } from '../pipeline/params.js';
import type { ProgressStream } from './progress.js';

export interface CliIo {
  stdout: { write(s: string): unknown };
  stderr: ProgressStream;
}

/** Exit codes (listed in --help). */
export const EXIT = { ok: 0, failed: 1, usage: 2, checkpoints: 3, download: 4 } as const;

export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  the run failed (the error is printed on stderr; with --json the result too)
  2  bad usage (a flag, a parameter or an unusable --out folder; named on stderr)
  3  checkpoints missing or unreadable (the message names the file and the command that gets it)
  4  a download failed (network, hub answer, or a file failing its sha256/size check)`;

/** Bad command-line usage (exit 2). */
export class UsageError extends Error {}

export interface CliContext {
  io: CliIo;
  /** Set by a command's action. */
  exitCode: number;
}

export interface CliCommand {
  register(program: Command, ctx: CliContext): void;
}

/** The exit code an error stands for. */
export function exitCodeOf(e: unknown): number {
  if (e instanceof UsageError || e instanceof ParamError || e instanceof OutputDirError) return EXIT.usage;
  if (e instanceof CheckpointError) return EXIT.checkpoints;
  if (e instanceof DownloadError) return EXIT.download;
  return EXIT.failed;
}
