// Request bodies as upstream reads them (contract §4): JSON (`application/json` and `*+json`),
// urlencoded forms, multipart forms with audio uploads, and header-less bodies sniffed (`{` ->
// JSON, `=` -> form, else 415). Bodies arrive as raw text from the server's content-type parsers
// so every malformed body is answered 400/415 with `{detail}` here.
import { createWriteStream, mkdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { HttpError } from './envelope.js';

/** What the raw-text content-type parsers hand to routes. */
export interface RawBody {
  kind: 'json' | 'form' | 'unknown';
  text: string;
}

export function isRawBody(b: unknown): b is RawBody {
  return !!b && typeof b === 'object' && 'kind' in b && 'text' in b;
}

function parseJson(text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `Invalid JSON: ${(e as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, 'JSON payload must be an object');
  return v as Record<string, unknown>;
}

function parseForm(text: string): Record<string, unknown> {
  return Object.fromEntries(new URLSearchParams(text).entries());
}

/** The body of a non-multipart request as an object (an empty body is `{}`). */
export function decodeBody(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (!isRawBody(b)) throw new HttpError(415, 'Unsupported Content-Type');
  if (b.kind === 'json') return b.text.trim() === '' ? {} : parseJson(b.text);
  if (b.kind === 'form') return parseForm(b.text);
  const t = b.text.trim();
  if (t === '') return {};
  if (req.headers['content-type'] === undefined) {
    if (t.startsWith('{')) return parseJson(t);
    if (t.includes('=')) return parseForm(t);
  }
  throw new HttpError(
    415,
    `Unsupported Content-Type: ${req.headers['content-type'] ?? '(none)'}; use application/json, multipart/form-data or application/x-www-form-urlencoded`,
  );
}

/** The fields of any body (multipart file parts are skipped), for endpoints that take no uploads. */
export async function decodeFields(req: FastifyRequest): Promise<Record<string, unknown>> {
  if (!req.isMultipart()) return decodeBody(req);
  const fields: Record<string, unknown> = {};
  try {
    for await (const part of req.parts()) {
      if (part.type === 'field') fields[part.fieldname] = part.value;
      else part.file.resume();
    }
  } catch (e) {
    const status = (e as { statusCode?: number }).statusCode;
    throw new HttpError(status && status >= 400 && status < 500 ? status : 400, `malformed multipart body: ${(e as Error).message}`);
  }
  return fields;
}

/** Multipart upload fields and the `*_audio_path` field each replaces. */
export const UPLOAD_FIELDS: Record<string, 'src' | 'ref'> = {
  src_audio: 'src',
  ctx_audio: 'src',
  ref_audio: 'ref',
  reference_audio: 'ref',
};

export interface DecodedRequest {
  fields: Record<string, unknown>;
  uploads: { src?: string; ref?: string };
}

/** A JSON/form body, or a multipart body whose audio uploads are saved under `uploadDir`. */
export async function decodeRequest(req: FastifyRequest, uploadDir: string): Promise<DecodedRequest> {
  if (!req.isMultipart()) return { fields: decodeBody(req), uploads: {} };
  const fields: Record<string, unknown> = {};
  const uploads: DecodedRequest['uploads'] = {};
  try {
    for await (const part of req.parts()) {
      if (part.type === 'field') {
        fields[part.fieldname] = part.value;
        continue;
      }
      const slot = UPLOAD_FIELDS[part.fieldname];
      if (!slot) {
        part.file.resume();
        continue;
      }
      mkdirSync(uploadDir, { recursive: true });
      const ext = extname(part.filename ?? '')
        .toLowerCase()
        .replace(/[^.a-z0-9]/g, '')
        .slice(0, 6);
      const path = join(uploadDir, `${slot}${ext || '.wav'}`);
      await pipeline(part.file, createWriteStream(path));
      if (part.file.truncated) throw new HttpError(413, `${part.fieldname}: upload exceeds the size limit`);
      uploads[slot] = path;
    }
  } catch (e) {
    if (e instanceof HttpError) throw e;
    const status = (e as { statusCode?: number }).statusCode;
    throw new HttpError(status && status >= 400 && status < 500 ? status : 400, `malformed multipart body: ${(e as Error).message}`);
  }
  return { fields, uploads };
}
