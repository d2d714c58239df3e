/**
 * The request target -> the one path that authorization matches and the
 * handler sees (DESIGN, security rules). If the two ever differed, a policy
 * on `/admin` could be walked around with `/public/../admin` or `/%61dmin`.
 *
 *   - absolute-form (`http://host/p`) is reduced to its path;
 *   - query and fragment are not part of the path (the query is kept in
 *     req.url, the fragment dropped: a client never sends one legitimately);
 *   - percent-escapes of unreserved characters (ALPHA DIGIT - . _ ~) are
 *     decoded once; every other escape stays encoded, hex in upper case;
 *   - `%2F`, `%5C`, `%00` (any case), a raw backslash, a malformed escape and
 *     any byte outside 0x21..0x7E are refused: they are how paths get read
 *     differently by different layers;
 *   - dot segments are resolved (RFC 3986 5.2.4), also those spelled `%2e`,
 *     `//` is merged, and nothing climbs above the root;
 *   - `;` (path parameters) per SemicolonMode below, `strip` by default.
 *
 * One pass over the characters; no regex, and no allocation at all for a path
 * that is already normal (the common case).
 */

/** Why a target was refused; a handful of shared constants, so a refusal allocates nothing. */
export interface Refused {
  readonly refused: string;
}

const refused = (why: string): Refused => Object.freeze({ refused: why });
export const NOT_A_PATH = refused('the request target is not a path');
export const ENCODED_SEPARATOR = refused('encoded "/", "\\" or NUL in the path');
export const BACKSLASH = refused('backslash in the request target');
export const BAD_ESCAPE = refused('malformed percent-escape in the path');
export const BAD_CHARACTER = refused('control or non-ASCII character in the request target');
export const PATH_PARAMETER = refused('";" in the path: path parameters are refused by this server');
export const ENCODED_SEMICOLON = refused('encoded ";" in the path');

/**
 * What a `;` in the path means. Routers disagree: Fastify 4 (find-my-way with
 * useSemicolonDelimiter, its default) ends the path at the first `;`, so
 * `/admin;x` runs the `/admin` handler; Express and Fastify 5 take `;` as an
 * ordinary character; servlet containers drop `;params` from every segment.
 * A policy matched on one reading and a handler routed on another is a bypass,
 * so the path both see must carry no `;` at all unless the operator says so:
 *
 *   strip   (default) the path ends at the first `;`: what follows, up to the
 *           query, is dropped, for authorization and for the handler alike
 *           (`/admin;x/y` -> `/admin`, `/public/..;/admin` -> `/`). The reading
 *           of the router that cuts, which no router can read as a longer path.
 *   reject  a `;` in the path is refused (400).
 *   keep    `;` is an ordinary character, matched and handed on as sent: only
 *           for applications that use path parameters, behind a router that
 *           does not cut at `;` (Express; Fastify 5 with its default
 *           useSemicolonDelimiter: false). Never with Fastify 4's defaults.
 *
 * With strip and reject an encoded `;` (`%3B`) is refused too: it is how a
 * second decoder (a proxying handler, a servlet container behind it) finds a
 * path parameter the first one never saw, as `%2F` is for a slash.
 */
export type SemicolonMode = 'strip' | 'reject' | 'keep';
export const SEMICOLON_MODES: readonly SemicolonMode[] = ['strip', 'reject', 'keep'];
export const DEFAULT_SEMICOLONS: SemicolonMode = 'strip';

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const QUESTION = 0x3f;
const HASH = 0x23;
const BACKSLASH_CODE = 0x5c;
const SEMICOLON = 0x3b;

/** The normalized target: the path plus the original query (no fragment); or why it was refused. */
export function normalizeTarget(target: string, semicolons: SemicolonMode = DEFAULT_SEMICOLONS): string | Refused {
  const len = target.length;
  let start = 0;
  if (target.charCodeAt(0) !== SLASH) {
    start = absolutePathStart(target);
    if (start < 0) return start === -2 ? BACKSLASH : NOT_A_PATH;
  }
  // Scan the path: refuse what must be refused, and learn whether it is already normal.
  // A stripped `;` ends the path at `cut`; the rest, up to the query, is still checked, then dropped.
  let end = start;
  let cut = -1;
  let normal = true;
  let prev = -1;
  for (; end < len; end++) {
    const c = target.charCodeAt(end);
    if (c === QUESTION || c === HASH) break;
    if (c === BACKSLASH_CODE) return BACKSLASH;
    if (c <= 0x20 || c >= 0x7f) return BAD_CHARACTER;
    if (c === SEMICOLON && cut < 0 && semicolons !== 'keep') {
      if (semicolons === 'reject') return PATH_PARAMETER;
      cut = end;
    }
    if (cut < 0 && (c === PERCENT || (prev === SLASH && (c === SLASH || c === DOT)))) normal = false;
    prev = c;
  }
  const pathEnd = cut < 0 ? end : cut;
  let query = '';
  if (end < len && target.charCodeAt(end) === QUESTION) {
    const hash = target.indexOf('#', end);
    query = hash < 0 ? target.slice(end) : target.slice(end, hash);
  }
  if (normal) {
    if (start === 0 && pathEnd === len) return target;
    return (start === pathEnd ? '/' : target.slice(start, pathEnd)) + query;
  }
  const decoded = decodeUnreserved(target, start, pathEnd, semicolons !== 'keep');
  if (typeof decoded !== 'string') return decoded;
  return removeDotSegments(decoded) + query;
}

/** The normalized path of a normalized target (req.url after the normalization layer): the part before `?`. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/**
 * Where the path of an absolute-form target (`http://authority/path`) starts
 * (it may be empty: `http://host?q`); -1 when the target is not http(s)
 * absolute-form (asterisk-form `*`, authority-form, a bare word), -2 for a
 * backslash in the authority (WHATWG URL parsers read it as `/`).
 */
function absolutePathStart(target: string): number {
  const colon = target.indexOf('://');
  if (colon !== 4 && colon !== 5) return -1;
  const scheme = target.slice(0, colon).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return -1;
  let i = colon + 3;
  for (; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === SLASH || c === QUESTION || c === HASH) break;
    if (c === BACKSLASH_CODE) return -2;
  }
  return i;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function isUnreserved(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e;
}

const HEX = '0123456789ABCDEF';

/** target[start, end) with unreserved escapes decoded once; other escapes kept, in upper case. */
function decodeUnreserved(target: string, start: number, end: number, noSemicolon: boolean): string | Refused {
  if (start === end) return '/';
  let out = '';
  let from = start;
  for (let i = start; i < end; i++) {
    if (target.charCodeAt(i) !== PERCENT) continue;
    const hi = i + 2 < end ? hexValue(target.charCodeAt(i + 1)) : -1;
    const lo = hi < 0 ? -1 : hexValue(target.charCodeAt(i + 2));
    if (lo < 0) return BAD_ESCAPE;
    const b = hi * 16 + lo;
    if (b === 0x2f || b === 0x5c || b === 0) return ENCODED_SEPARATOR;
    if (b === SEMICOLON && noSemicolon) return ENCODED_SEMICOLON;
    out += target.slice(from, i) + (isUnreserved(b) ? String.fromCharCode(b) : '%' + HEX[hi]! + HEX[lo]!);
    from = i + 3;
    i += 2;
  }
  return out + target.slice(from, end);
}

/**
 * RFC 3986 remove_dot_segments, with empty segments dropped (`//` merged).
 * The input starts with `/`. A path that ends in `/`, `/.` or `/..` keeps a
 * trailing slash, as the RFC's algorithm leaves it (`/a/b/..` -> `/a/`).
 */
function removeDotSegments(path: string): string {
  const out: string[] = [];
  let trailing = false;
  let i = 1;
  while (i <= path.length) {
    let j = path.indexOf('/', i);
    if (j < 0) j = path.length;
    const seg = path.slice(i, j);
    trailing = seg === '' || seg === '.' || seg === '..';
    if (seg === '..') out.pop();
    else if (!trailing) out.push(seg);
    i = j + 1;
  }
  if (out.length === 0) return '/';
  const joined = '/' + out.join('/');
  return trailing ? joined + '/' : joined;
}
