// The sub-commands of `acestep`, one module each, registered in this order (help lists them so).
import type { CliCommand } from '../command.js';
import { downloadCommand } from './download.js';
import { generateCommand } from './generate.js';
import { createSampleCommand, formatSampleCommand, understandCommand } from './lm-helpers.js';
import { serveCommand, workerCommand } from './server.js';

export const COMMANDS: readonly CliCommand[] = [
  generateCommand,
  understandCommand,
  createSampleCommand,
  formatSampleCommand,
  downloadCommand,
  serveCommand,
  workerCommand,
];
