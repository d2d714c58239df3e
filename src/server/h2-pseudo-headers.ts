/**
 * The pseudo-headers of an HTTP/2 request, checked as carefully as an
 * HTTP/1.1 request target before the path is normalized (issue 18). nghttp2
 * has already refused what RFC 9113 calls malformed at the frame level
 * (missing or repeated pseudo-headers, upper-case names, NUL/CR/LF); this is
 * the mesh's reading on top:
 *
 *   :path       origin-form only (`/...`), or `*` for OPTIONS: the absolute
 *               form an HTTP/1.1 proxy may send has no place in HTTP/2, and
 *               normalizeTarget (which accepts it for HTTP/1.1) would reduce
 *               `http://x/admin` to `/admin` without anyone asking it to;
 *   :authority  host[:port] with nothing else: no userinfo (RFC 9113 8.3.1
 *               forbids it), no percent-escapes, no spaces, a port of digits;
 *   host        when both are sent they must name the same authority (RFC 9113
 *               8.3.1: a server SHOULD treat the request as malformed), so a
 *               policy or a handler reading one cannot be fooled by the other;
 *   :scheme     http or https.
 *
 * One pass over each value, no regex and no allocation on success.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { NOT_A_PATH, type Refused } from './authz/normalize-path.js';

const refused = (why: string): Refused => Object.freeze({ refused: why });
export const BAD_AUTHORITY = refused('malformed :authority (or host) header');
export const AUTHORITY_MISMATCH = refused(':authority and host name different authorities');
export const BAD_SCHEME = refused(':scheme is neither http nor https');
export const PATH_NOT_ORIGIN_FORM = refused(':path is not a path beginning with "/"');

/** Undefined when the request's pseudo-headers are acceptable; else why not. */
export function checkPseudoHeaders(headers: IncomingHttpHeaders, method: string | undefined): Refused | undefined {
  const path = headers[':path'] as string | undefined;
  if (path === undefined || path === '') return NOT_A_PATH;
  if (path.charCodeAt(0) !== 0x2f && !(path === '*' && method === 'OPTIONS')) return PATH_NOT_ORIGIN_FORM;
  const scheme = headers[':scheme'] as string | undefined;
  if (scheme !== undefined && scheme !== 'https' && scheme !== 'http') return BAD_SCHEME;
  const authority = headers[':authority'] as string | undefined;
  const host = headers.host;
  if (authority !== undefined && !isAuthority(authority)) return BAD_AUTHORITY;
  if (host !== undefined) {
    if (!isAuthority(host)) return BAD_AUTHORITY;
    if (authority !== undefined && host.toLowerCase() !== authority.toLowerCase()) return AUTHORITY_MISMATCH;
  }
  return undefined;
}

/** Host names are at most 253 characters; with brackets, a port and slack, 300 is generous. */
const MAX_AUTHORITY = 300;

/** host [":" port], host a DNS-style name, an IPv4 address or a bracketed IPv6 literal. */
export function isAuthority(s: string): boolean {
  const n = s.length;
  if (n === 0 || n > MAX_AUTHORITY) return false;
  let i = 0;
  if (s.charCodeAt(0) === 0x5b /* [ */) {
    i = 1;
    while (i < n && isIpv6Char(s.charCodeAt(i))) i++;
    if (i === 1 || i >= n || s.charCodeAt(i) !== 0x5d /* ] */) return false;
    i++;
  } else {
    while (i < n && isNameChar(s.charCodeAt(i))) i++;
    if (i === 0) return false;
  }
  if (i === n) return true;
  if (s.charCodeAt(i) !== 0x3a /* : */) return false;
  const digits = n - i - 1;
  if (digits < 1 || digits > 5) return false;
  for (let j = i + 1; j < n; j++) {
    const c = s.charCodeAt(j);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function isNameChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f;
}

function isIpv6Char(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46) || c === 0x3a || c === 0x2e;
}
