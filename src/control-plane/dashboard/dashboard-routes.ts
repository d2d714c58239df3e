/**
 * The dashboard at /ui: static files shipped in the package, copied next to
 * this module by `npm run build` (scripts/copy-static.mjs) with cytoscape's
 * browser bundle, a devDependency, under vendor/. The page reads
 * /v1/stats/stream (SSE) and redraws without reloading. Read-only: it serves
 * files and nothing else, with a strict Content-Security-Policy.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';
import { notFound } from '../http/http-error.js';
import type { Route } from '../http/router.js';

const STATIC_DIR = fileURLToPath(new URL('./static/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** Every file the dashboard serves, by URL: nothing outside this table is read from disk. */
function files(): Map<string, string> {
  return new Map([
    ['/ui', `${STATIC_DIR}index.html`],
    ['/ui/', `${STATIC_DIR}index.html`],
    ['/ui/app.js', `${STATIC_DIR}app.js`],
    ['/ui/charts.js', `${STATIC_DIR}charts.js`],
    ['/ui/details.js', `${STATIC_DIR}details.js`],
    ['/ui/app.css', `${STATIC_DIR}app.css`],
    ['/ui/vendor/cytoscape.min.js', `${STATIC_DIR}vendor/cytoscape.min.js`],
  ]);
}

const SECURITY_HEADERS = {
  // Scripts only from here; cytoscape sets style attributes on the elements it creates, hence 'unsafe-inline' for styles.
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export function dashboardRoutes(): Route[] {
  const table = files();
  const cache = new Map<string, Buffer>();
  const serve = async (path: string, res: ServerResponse) => {
    const file = table.get(path);
    if (!file) throw notFound(`no dashboard file at ${path}`);
    let body = cache.get(path);
    if (!body) {
      try {
        body = await readFile(file);
      } catch {
        throw notFound(`dashboard file ${file} is missing: build the package with \`npm run build\``);
      }
      cache.set(path, body);
    }
    const type = TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream';
    res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'cache-control': 'no-cache', ...SECURITY_HEADERS });
    res.end(body);
  };
  const route = (path: string): Route => ({
    method: 'GET',
    path,
    // Static files, no data: the data comes from /v1/stats/stream, which needs a token.
    auth: 'none',
    // The page's own settings, read by app.js in the browser (`/ui?window=30`); the server ignores them.
    query: ['window'],
    handle: async ({ res, params }) => {
      const concrete = path.replace(':file', params.file ?? '');
      await serve(concrete, res);
      return undefined;
    },
  });
  return [route('/ui'), route('/ui/'), route('/ui/:file'), route('/ui/vendor/:file')];
}
