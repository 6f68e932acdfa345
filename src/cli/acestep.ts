#!/usr/bin/env node
// Executable entry of the `acestep` bin (see acestep-main.ts for the commands and options).
import { runCli } from './acestep-main.js';

// Output piped into a reader that stops early (`| head`) is no error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

process.exitCode = await runCli(process.argv.slice(2));
