/**
 * The request target, parsed defensively: it comes straight from the wire, so
 * length, form and percent-encoding are checked before any routing happens.
 */
import { ErrorCode } from '../../core/errors.js';
import { HttpError, badRequest } from './http-error.js';

export interface Target {
  /** The raw path (for logs). */
  path: string;
  /** Decoded path segments: `/v1/leases/a%20b` -> ['v1', 'leases', 'a b']. */
  segments: string[];
  query: URLSearchParams;
}

/** Far below Node's 16 KiB header limit; no valid call to this API comes close. */
export const MAX_TARGET_LENGTH = 8192;

export function parseTarget(url: string | undefined): Target {
  if (!url) throw badRequest('the request has no target');
  if (url.length > MAX_TARGET_LENGTH) {
    throw new HttpError(414, ErrorCode.BAD_REQUEST, `request target is ${url.length} characters; the limit is ${MAX_TARGET_LENGTH}`);
  }
  // Absolute-form (`GET http://host/path`) is for proxies and `*` is for OPTIONS: neither is ours.
  if (!url.startsWith('/')) throw badRequest('the request target must be a path such as /v1/health');
  const hash = url.indexOf('#');
  const clean = hash < 0 ? url : url.slice(0, hash);
  const q = clean.indexOf('?');
  const path = q < 0 ? clean : clean.slice(0, q);
  const segments = path.slice(1).split('/').map(decodeSegment);
  return { path, segments, query: new URLSearchParams(q < 0 ? '' : clean.slice(q + 1)) };
}

function decodeSegment(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    throw badRequest(`path segment "${segment.slice(0, 100)}" has invalid percent-encoding`);
  }
}
