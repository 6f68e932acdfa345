// Files named on the command line: `--params FILE.json` / `--config FILE.json` objects and text
// files such as `--lyrics-file`, each failing with a UsageError that names the file.
import { readFileSync } from 'node:fs';
import { UsageError } from './command.js';

export function readTextFile(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`${flag} ${path}: ${(e as Error).message}`);
  }
}

export function readJsonObject(path: string, flag: string): Record<string, unknown> {
  const text = readTextFile(path, flag);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new UsageError(`${flag} ${path}: must hold a JSON object of parameters`);
  return v as Record<string, unknown>;
}
