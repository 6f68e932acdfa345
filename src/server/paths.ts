// Path confinement (contract §4 path rule, §9): `*_audio_path` fields and `/v1/audio` may only
// name files whose real path (symlinks resolved) lies inside the server's allowed directories.
import { realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { HttpError } from './envelope.js';

/** True when `child` (a real path) is `dir` or lies under it. */
export function isInside(dir: string, child: string): boolean {
  const rel = relative(dir, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

function real(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
}

/**
 * An audio path given in a request: relative paths resolve against `base` and may not contain
 * `..`; absolute paths must lie in one of `allowed`. Answers 400 as upstream, naming the field.
 */
export function confineAudioPath(field: string, given: string, base: string, allowed: string[]): string {
  if (given.includes('\0')) throw new HttpError(400, `${field}: invalid path`);
  if (!isAbsolute(given) && given.split(/[\\/]/).includes('..'))
    throw new HttpError(400, `${field}: relative audio file paths may not contain '..'`);
  const abs = isAbsolute(given) ? given : resolve(base, given);
  const r = real(abs);
  const roots = allowed.map(real).filter((d): d is string => d !== null);
  if (r !== null && roots.some((d) => isInside(d, r))) return r;
  if (isAbsolute(given))
    throw new HttpError(400, `${field}: absolute audio file paths are not allowed outside the server's audio directories`);
  throw new HttpError(400, `${field}: audio file not found: ${given}`);
}

/** A file served by /v1/audio: 403 outside `allowed`, 404 when missing. */
export function confineServedFile(given: string, allowed: string[]): string {
  if (given.includes('\0')) throw new HttpError(400, 'invalid path');
  const abs = resolve(given);
  const roots = allowed.map(real).filter((d): d is string => d !== null);
  const r = real(abs);
  if (r === null) {
    // A missing file still must not reveal anything outside the allowed tree.
    if (!allowed.some((d) => isInside(resolve(d), abs))) throw new HttpError(403, 'Access denied: path outside allowed directory');
    throw new HttpError(404, 'Audio file not found');
  }
  if (!roots.some((d) => isInside(d, r))) throw new HttpError(403, 'Access denied: path outside allowed directory');
  return r;
}
