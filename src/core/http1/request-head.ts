import { errors } from 'undici';
import { FIELD_VALUE, TARGET, TOKEN } from './bytes.js';

/**
 * The request head the raw HTTP/1.1 transport (pool.ts) writes for undici's dispatch options, validated as
 * undici validates them (same error classes and codes, so the mesh's classifier reads them unchanged): a
 * name that is not a token, a value with CR, LF or NUL, a path with a space or control, and the fields the
 * transport owns (Transfer-Encoding, Upgrade, Keep-Alive, Connection other than close/keep-alive) are
 * refused before anything is written. What this transport does not do (Expect, upgrades, CONNECT, bodies
 * it cannot size or stream) is not refused here: `needsUndici` sends such a request over undici instead.
 */

/** The body shapes written here; anything else goes to undici (pool.ts). */
export type WritableBody = undefined | Buffer | AsyncIterable<unknown>;

export interface RequestHeadBytes {
  /** The head, blank line included (latin1). */
  head: string;
  /** The body, as a Buffer (strings and typed arrays converted) or a stream; undefined for none. */
  body: WritableBody;
  /** The length the head declared (a known-length body, or the caller's Content-Length); -1: chunked or none. */
  length: number;
  /** The caller asked for `connection: close` (or `reset`): the connection ends after this answer. */
  close: boolean;
}

export interface HeadInput {
  method: string;
  path: string;
  headers?: unknown;
  body?: unknown;
  reset?: boolean | undefined;
}

const METHODS_WITH_BODY_EXPECTED: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH']);

function invalid(message: string): Error {
  return new errors.InvalidArgumentError(message);
}

function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TOKEN[c] === 0) return false;
  }
  return true;
}

function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Code points above latin1 are written as UTF-8 by undici; here they would be cut to a byte: refused.
    if (c > 0xff || FIELD_VALUE[c] === 0) return false;
  }
  return true;
}

/** A path's characters: visible ASCII, and 0x80-0xFF sent as those bytes (latin1), as undici sends them. */
function isTarget(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || (c < 0x80 && TARGET[c] === 0)) return false;
  }
  return true;
}

/**
 * Whether this request is one the raw transport leaves to undici: an upgrade or CONNECT, an Expect header
 * (100-continue), a body it does not write itself (FormData, Blob, a web ReadableStream), a query object.
 * Read before the head is built; cheap for the usual request (no Expect, a Buffer or stream body or none).
 */
export function needsUndici(opts: { method: string; upgrade?: unknown; body?: unknown; query?: unknown; expectContinue?: unknown; headers?: unknown }): boolean {
  if (opts.upgrade || opts.method === 'CONNECT' || opts.query !== undefined || opts.expectContinue) return true;
  const body = opts.body;
  if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof Uint8Array) && !isNodeStream(body)) return true;
  return hasExpect(opts.headers);
}

function isNodeStream(body: unknown): boolean {
  return typeof (body as { pipe?: unknown }).pipe === 'function' && typeof (body as { on?: unknown }).on === 'function' && typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

function hasExpect(headers: unknown): boolean {
  if (headers === undefined || headers === null) return false;
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) {
      const k = headers[i] as unknown;
      if (typeof k === 'string' && k.length === 6 && k.toLowerCase() === 'expect') return true;
    }
    return false;
  }
  if (typeof headers === 'object') for (const k of Object.keys(headers)) if (k.length === 6 && k.toLowerCase() === 'expect') return true;
  return false;
}

/** The state of a head being built: the fields the transport owns, seen as the caller's fields go by. */
interface Building {
  out: string;
  host: boolean;
  contentLength: number;
  close: boolean;
}

function addField(b: Building, name: unknown, value: unknown): Error | undefined {
  if (typeof name !== 'string') return invalid('invalid header key');
  if (!isToken(name)) return invalid('invalid header key');
  if (Array.isArray(value)) {
    for (const v of value) {
      const err = addField(b, name, v);
      if (err) return err;
    }
    return undefined;
  }
  if (value === undefined) return undefined;
  const v =
    typeof value === 'string'
      ? value
      : Buffer.isBuffer(value)
        ? value.toString('latin1')
        : typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint'
          ? String(value)
          : undefined;
  if (v === undefined || !isFieldValue(v)) return invalid(`invalid ${name} header`);
  // Only names of the owned lengths are lower-cased (host 4, expect 6, upgrade 7, keep-alive and connection 10,
  // content-length 14, transfer-encoding 17).
  const n = name.length;
  if (n === 4 || n === 7 || n === 10 || n === 14 || n === 17) {
    const lower = name.toLowerCase();
    if (lower === 'host') {
      if (b.host) return invalid('duplicate host header');
      b.host = true;
    } else if (lower === 'content-length') {
      const length = /^\d{1,15}$/.test(v.trim()) ? Number(v.trim()) : NaN;
      if (Number.isNaN(length) || (b.contentLength >= 0 && b.contentLength !== length)) return invalid('invalid content-length header');
      b.contentLength = length;
      return undefined; // written once, by the head's framing
    } else if (lower === 'transfer-encoding' || lower === 'keep-alive' || lower === 'upgrade') {
      return invalid(`invalid ${lower} header`);
    } else if (lower === 'connection') {
      const option = v.trim().toLowerCase();
      if (option !== 'close' && option !== 'keep-alive') return invalid('invalid connection header');
      if (option === 'close') b.close = true;
      return undefined; // written once, below
    }
  }
  b.out += `${name}: ${v}\r\n`;
  return undefined;
}

function addHeaders(b: Building, headers: unknown): Error | undefined {
  if (headers === undefined || headers === null) return undefined;
  if (Array.isArray(headers)) {
    if (headers.length % 2 !== 0) return invalid('headers array must be even');
    for (let i = 0; i < headers.length; i += 2) {
      const err = addField(b, headers[i], headers[i + 1]);
      if (err) return err;
    }
    return undefined;
  }
  if (typeof headers !== 'object') return invalid('headers must be an object or an array');
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const pair of headers as Iterable<unknown>) {
      if (!Array.isArray(pair) || pair.length !== 2) return invalid('headers must be in key-value pair format');
      const err = addField(b, pair[0], pair[1]);
      if (err) return err;
    }
    return undefined;
  }
  for (const key of Object.keys(headers)) {
    const err = addField(b, key, (headers as Record<string, unknown>)[key]);
    if (err) return err;
  }
  return undefined;
}

/** The head and body to write for `opts` on a connection to `host`, or the error undici would have thrown. */
export function requestHead(opts: HeadInput, host: string): RequestHeadBytes | Error {
  const method = opts.method;
  if (typeof method !== 'string' || !isToken(method)) return invalid('invalid request method');
  const path = opts.path;
  if (typeof path !== 'string' || !isTarget(path)) return invalid('invalid request path');
  if (path[0] !== '/' && path !== '*' && !path.startsWith('http://') && !path.startsWith('https://')) return invalid('path must be an absolute URL or start with a slash');
  const b: Building = { out: `${method} ${path} HTTP/1.1\r\n`, host: false, contentLength: -1, close: opts.reset === true };
  const err = addHeaders(b, opts.headers);
  if (err) return err;
  if (!b.host) b.out = `${b.out}host: ${host}\r\n`;
  let body: WritableBody;
  const raw = opts.body;
  if (raw === undefined || raw === null) body = undefined;
  else if (typeof raw === 'string') body = raw.length === 0 ? undefined : Buffer.from(raw, 'utf8');
  else if (Buffer.isBuffer(raw)) body = raw.length === 0 ? undefined : raw;
  else if (raw instanceof Uint8Array) body = raw.length === 0 ? undefined : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  else body = raw as AsyncIterable<unknown>;
  let length = -1;
  if (Buffer.isBuffer(body)) {
    if (b.contentLength >= 0 && b.contentLength !== body.length) return new errors.RequestContentLengthMismatchError('Request body length does not match content-length header');
    length = body.length;
    b.out += `content-length: ${length}\r\n`;
  } else if (body !== undefined) {
    // A stream: its declared length (checked as it is written, pool.ts) or chunked.
    length = b.contentLength;
    b.out += length >= 0 ? `content-length: ${length}\r\n` : 'transfer-encoding: chunked\r\n';
  } else if (b.contentLength > 0) {
    return new errors.RequestContentLengthMismatchError('Request body length does not match content-length header');
  } else if (b.contentLength === 0 || METHODS_WITH_BODY_EXPECTED.has(method)) {
    // As undici: a POST without a body says so, or some servers wait for one.
    length = 0;
    b.out += 'content-length: 0\r\n';
  }
  b.out += b.close ? 'connection: close\r\n\r\n' : 'connection: keep-alive\r\n\r\n';
  return { head: b.out, body, length, close: b.close };
}
