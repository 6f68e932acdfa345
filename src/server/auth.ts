// API-key checks (contract §7): the key from ACESTEP_API_KEY / --api-key, given as `ai_token` in a
// request body or as `Authorization: Bearer <key>` (or the raw key), compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { HttpError } from './envelope.js';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Constant-time equality of two secrets (hashed first so their lengths do not leak). */
export function sameKey(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

function headerToken(req: FastifyRequest): string | null {
  const h = req.headers.authorization;
  if (typeof h !== 'string' || h === '') return null;
  const m = /^Bearer\s+(.+)$/i.exec(h);
  return (m ? m[1] : h).trim();
}

/** Header-only endpoints: 401 "Missing Authorization header" / "Invalid API key". */
export function requireHeaderKey(req: FastifyRequest, key: string | null): void {
  if (!key) return;
  const token = headerToken(req);
  if (token === null) throw new HttpError(401, 'Missing Authorization header');
  if (!sameKey(token, key)) throw new HttpError(401, 'Invalid API key');
}

/** Body endpoints: `ai_token` in the body wins, else the Authorization header. */
export function requireBodyOrHeaderKey(req: FastifyRequest, body: Record<string, unknown>, key: string | null): void {
  if (!key) return;
  const token = typeof body.ai_token === 'string' && body.ai_token !== '' ? body.ai_token : headerToken(req);
  if (token === null) throw new HttpError(401, 'Missing Authorization header');
  if (!sameKey(token, key)) throw new HttpError(401, 'Invalid API key');
}
