#!/usr/bin/env node
// Executable entry of the `acestep` bin (see acestep-main.ts for the commands and options).
import { runCli } from './acestep-main.js';

process.exitCode = await runCli(process.argv.slice(2));
