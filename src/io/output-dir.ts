// Output folders: created one level at a time and checked for writing before any work is spent.
// Node 20's mkdirSync({ recursive: true }) loops forever at 100 % CPU where a parent exists but
// refuses new entries with ENOENT (e.g. under /proc), so folders are made here component by
// component, each failure an OutputDirError naming the folder and the cause.
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { OutputDirError } from './errors.js';

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code} (${err.message})` : String(e);
}

/** Creates `dir` and its missing parents, then checks it is a folder this process can write to. */
export function ensureOutputDir(dir: string): void {
  const target = resolve(dir);
  const missing: string[] = [];
  for (let p = target; ; p = dirname(p)) {
    let isDir: boolean | null = null;
    try {
      isDir = statSync(p).isDirectory();
    } catch (e) {
      // ENOENT (also a dangling link): created below; ENOTDIR: the parent that is a file is named
      // on the next step up; anything else is a real failure.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new OutputDirError(`cannot inspect ${p}: ${reason(e)}`, target);
    }
    if (isDir === false) throw new OutputDirError(`${p} exists and is not a folder`, target);
    if (isDir) break;
    if (dirname(p) === p) throw new OutputDirError(`the file system root ${p} does not exist`, target);
    missing.push(p);
  }
  for (const p of missing.reverse()) {
    try {
      mkdirSync(p);
    } catch (e) {
      throw new OutputDirError(`cannot create ${p}: ${reason(e)}`, target);
    }
  }
  try {
    accessSync(target, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw new OutputDirError(`not writable: ${reason(e)}`, target);
  }
}
