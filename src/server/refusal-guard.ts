/**
 * `x-hyphae-rejected` on a response means "this server's mesh refused the
 * request before its handler ran" (load shedding, an exhausted deadline): a
 * mesh client then retries it elsewhere whatever its method, and does not hold
 * it against the endpoint's health. Only the mesh's own layers may say that.
 * A handler that sets the header — most often by accident, proxying a
 * downstream mesh response with its headers (b copies c's shed 503 to a) —
 * would have its caller replay a POST that b may already have acted on.
 *
 * So the innermost layer, the last before the application, gives the response
 * a writeHead that drops the header, however the handler set it: setHeader,
 * or the headers passed to writeHead (object or flat list). Node's implicit
 * headers (res.end() without writeHead) go through writeHead too. The mesh's
 * own refusals are written by the layers above, before this one runs.
 */
import http from 'node:http';
import { Http2ServerResponse } from 'node:http2';
import { REFUSED_HEADER } from '../resilience/refusal.js';
import type { InboundFilter } from './stack.js';

type WriteHead = (this: http.ServerResponse, s: number, r: unknown, h: unknown) => http.ServerResponse;

/**
 * One function shared by every response (no closure per request), made once per response class (HTTP/1.1's
 * ServerResponse and HTTP/2's compat Http2ServerResponse, each with its own writeHead). Named parameters, not
 * `...args` and `apply`: it runs for every response, and Node's writeHead takes at most three (the headers are
 * the last one given: `writeHead(status, headers)` or `writeHead(status, reason, headers)`); passing
 * `undefined` for the ones not given is what Node does with them.
 */
function withoutRefusalWriteHead(native: WriteHead): WriteHead {
  return function writeHeadWithoutRefusal(this: http.ServerResponse, statusCode: number, reason?: unknown, headers?: unknown): http.ServerResponse {
    if (!this.headersSent && this.hasHeader(REFUSED_HEADER)) this.removeHeader(REFUSED_HEADER);
    if (headers !== undefined) {
      if (headers !== null && typeof headers === 'object') headers = withoutRefusal(headers);
    } else if (reason !== null && typeof reason === 'object') {
      reason = withoutRefusal(reason);
    }
    return native.call(this, statusCode, reason, headers);
  };
}

const http1WriteHead = withoutRefusalWriteHead(http.ServerResponse.prototype.writeHead as WriteHead) as http.ServerResponse['writeHead'];
const http2WriteHead = withoutRefusalWriteHead(Http2ServerResponse.prototype.writeHead as unknown as WriteHead) as http.ServerResponse['writeHead'];

/** The same headers without the refusal header; the handler's own object is never edited. */
function withoutRefusal(headers: object): object {
  if (Array.isArray(headers)) {
    // A flat [name, value, name, value...] list (Node's writeHead form).
    let found = false;
    for (let i = 0; i < headers.length; i += 2) if (isRefusal(headers[i])) found = true;
    if (!found) return headers;
    const out: unknown[] = [];
    for (let i = 0; i < headers.length; i += 2) if (!isRefusal(headers[i])) out.push(headers[i], headers[i + 1]);
    return out;
  }
  let found = false;
  for (const name in headers) if (isRefusal(name)) found = true;
  if (!found) return headers;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) if (!isRefusal(name)) out[name] = value;
  return out;
}

function isRefusal(name: unknown): boolean {
  return typeof name === 'string' && name.length === REFUSED_HEADER.length && name.toLowerCase() === REFUSED_HEADER;
}

export function refusalGuard(http2 = false): InboundFilter {
  const guarded = http2 ? http2WriteHead : http1WriteHead;
  return (next) => (req, res) => {
    res.writeHead = guarded;
    next(req, res);
  };
}
