/**
 * Identity never comes from the wire (DESIGN, security rules): headers that
 * could claim one (IDENTITY_HEADERS) are removed from every incoming request
 * before any layer or the application can read them — from `req.headers` and
 * from `req.rawHeaders` (which frameworks and `req.headersDistinct` read).
 */
import type http from 'node:http';
import { IDENTITY_HEADERS } from './peer.js';

const NAMES = new Set(IDENTITY_HEADERS.map((h) => h.toLowerCase()));

/** Returns how many header lines were removed (0 on the common path, which allocates nothing). */
export function stripIdentityHeaders(req: http.IncomingMessage): number {
  const headers = req.headers;
  let found = false;
  for (const name of IDENTITY_HEADERS) {
    if (headers[name] !== undefined) {
      delete headers[name];
      found = true;
    }
  }
  if (!found) return 0;
  // Node builds headers and headersDistinct lazily from rawHeaders and a header count it keeps
  // privately: build both views now, before rawHeaders shrinks under that count.
  // (An HTTP/2 compat request has no headersDistinct; its rawHeaders is a plain array built at creation.)
  const distinct = req.headersDistinct as NodeJS.Dict<string[]> | undefined;
  if (distinct !== undefined) for (const name of IDENTITY_HEADERS) delete distinct[name];
  const raw = req.rawHeaders;
  let w = 0;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (NAMES.has(raw[i]!.toLowerCase())) continue;
    raw[w++] = raw[i]!;
    raw[w++] = raw[i + 1]!;
  }
  const removed = (raw.length - w) / 2;
  raw.length = w;
  return removed;
}
