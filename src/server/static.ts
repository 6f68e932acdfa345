// Serves the prebuilt web page (dist/web, built from web/ by `npm run build:web`) at `/`.
// Asset names carry a content hash, so they are cached for good; index.html is revalidated.
// Without a built page, `/` says how to build it instead of answering 404.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';

/** dist/web of the package this file belongs to (from src/server or dist/src/server). */
export function webRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if (JSON.parse(readFileSync(pkg, 'utf8')).name === 'acestep') {
          const root = join(dir, 'dist', 'web');
          return existsSync(join(root, 'index.html')) ? root : null;
        }
      } catch {
        /* an unreadable package.json: keep walking up */
      }
    }
    dir = dirname(dir);
  }
  return null;
}

export async function registerStatic(app: FastifyInstance, root: string | null = webRoot()): Promise<void> {
  if (!root) {
    app.get('/', async (_req, reply) =>
      reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The web page is not built: run `npm run build:web` in the acestep package, then restart the server.\n'),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    index: 'index.html',
    // One route per file that exists now, no catch-all that would shadow the API's 404s.
    wildcard: false,
    setHeaders: (reply, path) => {
      reply.header('cache-control', /[\\/]assets[\\/]/.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
}
