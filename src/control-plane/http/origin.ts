/**
 * Requests a web browser sends on behalf of another site's page. Any page the
 * operator has open can make the browser send a POST to 127.0.0.1:15010; on an
 * --insecure control plane nothing else stands in its way. Browsers mark such
 * requests (an `Origin` header, `Sec-Fetch-Site`); the CLI, the mesh client,
 * curl and the dashboard's own same-origin fetches do not carry a foreign one.
 */
import type { IncomingMessage } from 'node:http';
import { ErrorCode } from '../../core/errors.js';
import { HttpError } from './http-error.js';
import type { Route } from './router.js';

/** `Sec-Fetch-Site` values of a request the user made on this origin (or typed into the address bar). */
const OWN_SITE = new Set(['same-origin', 'none']);

/**
 * Refuses (403 CROSS_ORIGIN) a request a browser marks as coming from another origin, on every route but the
 * public reads (GET of a route that needs no token: health, trust bundle, the dashboard's files, which a link
 * from another site may open).
 */
export function checkSameOrigin(req: IncomingMessage, route: Route, secure: boolean): void {
  if ((req.method === 'GET' || req.method === 'HEAD') && route.auth === 'none') return;
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && !OWN_SITE.has(site.toLowerCase())) {
    throw crossOrigin(`the browser marks it Sec-Fetch-Site: ${site.slice(0, 40)}`);
  }
  const origin = req.headers.origin;
  if (origin === undefined) return;
  const own = ownOrigin(req.headers.host, secure);
  if (own === undefined || normalizedOrigin(origin) !== own) {
    throw crossOrigin(`Origin ${origin.slice(0, 100)} is not this control plane's (${own ?? 'no Host header'})`);
  }
}

function crossOrigin(why: string): HttpError {
  return new HttpError(403, ErrorCode.CROSS_ORIGIN, `cross-origin request refused: ${why}; the API serves no other site's pages (call it from the CLI, the mesh or curl)`);
}

/** The origin a page served by this control plane has: its scheme and the Host the browser sent. */
function ownOrigin(host: string | undefined, secure: boolean): string | undefined {
  if (host === undefined || host === '') return undefined;
  return normalizedOrigin(`${secure ? 'https' : 'http'}://${host}`);
}

/** Scheme, host and port as the URL parser writes them (default ports dropped, case folded); undefined if not a URL. */
function normalizedOrigin(text: string): string | undefined {
  try {
    const url = new URL(text);
    if (url.username !== '' || url.password !== '' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') return undefined;
    return url.origin === 'null' ? undefined : url.origin;
  } catch {
    return undefined;
  }
}
