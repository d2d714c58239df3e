import { allIn, CR, DIGITS, equalsLower, FIELD_VALUE, HTAB, LF, SP, TARGET, TOKEN } from './bytes.js';

/**
 * An HTTP/1.1 message head read from raw bytes, strictly (RFC 9112), for a proxy that frames messages on
 * its sockets instead of Node's `http` module (docs/architecture.md, "The proxies' data path"). Strict
 * because a proxy and the server behind it must never disagree on where a message ends (request
 * smuggling): whatever llhttp refuses for Node's server is refused here, and what RFC 9112 lets a
 * recipient choose is refused too — Content-Length beside Transfer-Encoding, differing lengths, a coding
 * after chunked, obs-fold, a bare LF or CR, a space before the colon, controls in a value.
 */

export interface Http1Limits {
  /** The head's bytes, request or status line and fields, blank line included. Over: `head-too-large`. */
  maxHeadBytes: number;
  /** Field lines. Over: `too-many-fields`. */
  maxFields: number;
}

export const HTTP1_DEFAULT_LIMITS: Http1Limits = { maxHeadBytes: 16_384, maxFields: 100 };

/** How a message's body is delimited (RFC 9112 6.3). */
export type BodyFraming = { readonly kind: 'none' } | { readonly kind: 'length'; readonly length: number } | { readonly kind: 'chunked' } | { readonly kind: 'close' };

// The framings without a number are the same for every head: shared, not made per message.
const NO_BODY: BodyFraming = Object.freeze({ kind: 'none' });
const CHUNKED: BodyFraming = Object.freeze({ kind: 'chunked' });
const TO_CLOSE: BodyFraming = Object.freeze({ kind: 'close' });

/** Why a head was refused; `status` is what a server answers (a client drops the connection). */
export class HeadError {
  constructor(
    readonly reason: HeadErrorReason,
    readonly status: 400 | 431 | 501 | 505,
  ) {}
}

export type HeadErrorReason =
  | 'head-too-large'
  | 'too-many-fields'
  | 'bare-lf'
  | 'bare-cr'
  | 'bad-start-line'
  | 'bad-method'
  | 'bad-target'
  | 'bad-version'
  | 'bad-status'
  | 'obs-fold'
  | 'bad-field-name'
  | 'bad-field-value'
  | 'bad-content-length'
  | 'conflicting-content-length'
  | 'content-length-with-transfer-encoding'
  | 'unsupported-transfer-encoding'
  | 'transfer-encoding-in-http-1.0';

interface Head {
  /** 1.0 or 1.1. */
  minor: 0 | 1;
  /**
   * name, value, name, value... as sent (order and case), values without their surrounding whitespace.
   * Made from the buffer when first read (a proxy that forwards the head's bytes never makes them): read it
   * before the buffer is written over.
   */
  readonly rawHeaders: string[];
  /**
   * Where each field is in the buffer, FIELD_SPAN numbers a field: its line's start, its colon, its value's
   * start and end (whitespace trimmed), its line's CR. To forward the head as it came, fields cut out by
   * their line, without a string.
   */
  fieldSpans: readonly number[];
  framing: BodyFraming;
  /** Whether the connection may carry another message after this one. */
  keepAlive: boolean;
  /** Bytes the head took, its blank line included: the body (or the next message) starts there. */
  headBytes: number;
}

export interface RequestHead extends Head {
  method: string;
  target: string;
}

export interface ResponseHead extends Head {
  status: number;
  reason: string;
}

/** Numbers per field in `fieldSpans`. */
export const FIELD_SPAN = 5;

/** The fields that decide framing and the connection, gathered while the fields are read. */
interface Fields {
  spans: number[];
  contentLength: number;
  transferEncoding: string | undefined;
  /** Connection's options other than a lone keep-alive or close, joined; those two are the flags below. */
  connection: string | undefined;
  close: boolean;
  keepAliveOption: boolean;
}

/**
 * The end of the line starting at `from` (the index of its CR), -1 when incomplete, or a HeadError. A loop of
 * ours, not Buffer.indexOf: each indexOf crosses into C++ through node:buffer's wrapper, and a head's lines
 * are a few dozen bytes (the profile of a raw-socket proxy: docs/benchmarks.md, "Below Node's HTTP stack").
 */
function lineEnd(buf: Buffer, from: number, limits: Http1Limits): number | HeadError {
  const n = buf.length;
  let k = from;
  while (k < n && buf[k] !== CR && buf[k] !== LF) k++;
  if (k === n || (buf[k] === CR && k + 1 === n)) return n > limits.maxHeadBytes ? new HeadError('head-too-large', 431) : -1;
  if (buf[k] === LF) return k >= limits.maxHeadBytes ? new HeadError('head-too-large', 431) : new HeadError('bare-lf', 400);
  // A CR anywhere but before the LF is a line end some other parser would honour.
  if (buf[k + 1] !== LF) return new HeadError('bare-cr', 400);
  if (k + 1 >= limits.maxHeadBytes) return new HeadError('head-too-large', 431);
  return k;
}

/** Reads the field lines from `from` to the blank line. */
function readFields(buf: Buffer, from: number, limits: Http1Limits): { fields: Fields; end: number } | HeadError | undefined {
  const fields: Fields = { spans: [], contentLength: -1, transferEncoding: undefined, connection: undefined, close: false, keepAliveOption: false };
  let at = from;
  for (;;) {
    const end = lineEnd(buf, at, limits);
    if (end instanceof HeadError) return end;
    if (end < 0) return undefined;
    if (end === at) return { fields, end: end + 2 };
    if (fields.spans.length >= limits.maxFields * FIELD_SPAN) return new HeadError('too-many-fields', 431);
    const first = buf[at]!;
    if (first === SP || first === HTAB) return new HeadError('obs-fold', 400);
    // The name's bytes up to the first that is not a tchar, which must be the colon.
    let colon = at;
    while (colon < end && TOKEN[buf[colon]!] === 1) colon++;
    if (colon === at || colon === end || buf[colon] !== 0x3a) return new HeadError('bad-field-name', 400);
    let v = colon + 1;
    let w = end;
    while (v < w && (buf[v] === SP || buf[v] === HTAB)) v++;
    while (w > v && (buf[w - 1] === SP || buf[w - 1] === HTAB)) w--;
    if (!allIn(FIELD_VALUE, buf, v, w)) return new HeadError('bad-field-value', 400);
    fields.spans.push(at, colon, v, w, end);
    const problem = framingField(fields, buf, at, colon, v, w);
    if (problem) return problem;
    at = end + 2;
  }
}

/** Notes the fields that frame the message; a Content-Length that is not one number is refused here. */
function framingField(fields: Fields, buf: Buffer, at: number, colon: number, v: number, w: number): HeadError | undefined {
  // Length first: most names are not 10, 14 or 17 bytes, and those are not compared. Strings only for these three.
  if (colon - at === 14 && equalsLower(buf, at, colon, 'content-length')) {
    // One decimal number, once. RFC 9110 8.6 lets a recipient fold "5, 5" or a repeated identical field into one
    // length; llhttp refuses both, so a proxy that folded them would pass on what Node's server answers 400.
    // Read from the bytes: no string and no regex for the one field every answer has.
    if (fields.contentLength >= 0) return new HeadError('conflicting-content-length', 400);
    for (let i = v; i < w; i++) if (buf[i] === 0x2c) return new HeadError('conflicting-content-length', 400);
    if (w === v || w - v > 15 || !allIn(DIGITS, buf, v, w)) return new HeadError('bad-content-length', 400);
    let n = 0;
    for (let i = v; i < w; i++) n = n * 10 + buf[i]! - 0x30;
    fields.contentLength = n;
  } else if (colon - at === 17 && equalsLower(buf, at, colon, 'transfer-encoding')) {
    const value = buf.toString('latin1', v, w);
    fields.transferEncoding = fields.transferEncoding === undefined ? value : `${fields.transferEncoding},${value}`;
  } else if (colon - at === 10 && equalsLower(buf, at, colon, 'connection')) {
    // The usual values, alone, are flags; only a list is split (keepAlive below).
    if (equalsLower(buf, v, w, 'keep-alive')) fields.keepAliveOption = true;
    else if (equalsLower(buf, v, w, 'close')) fields.close = true;
    else {
      const value = buf.toString('latin1', v, w);
      fields.connection = fields.connection === undefined ? value : `${fields.connection},${value}`;
    }
  }
  return undefined;
}

/**
 * The members of a list field, lower-cased, empty members kept: an empty Transfer-Encoding member is refused,
 * since "chunked," ends in a coding that is not chunked to a parser that does not drop it (llhttp refuses it).
 * Only SP and HTAB are trimmed (OWS): String.prototype.trim would also take the latin1 NBSP (0xA0), making
 * "chunked\xA0" chunked here and an unknown coding everywhere else.
 */
function members(list: string): string[] {
  return list
    .toLowerCase()
    .split(',')
    .map((c) => c.replace(/^[ \t]+|[ \t]+$/g, ''));
}

function keepAlive(minor: 0 | 1, fields: Fields): boolean {
  const options = fields.connection === undefined ? [] : members(fields.connection);
  // close first, in either version (RFC 9112 9.3): "keep-alive, close" from a 1.0 peer still ends the connection.
  if (fields.close || options.includes('close')) return false;
  return minor === 1 || fields.keepAliveOption || options.includes('keep-alive');
}

const HTTP_1 = 'HTTP/1.';

function version(buf: Buffer, at: number): 0 | 1 | undefined {
  // Exactly "HTTP/1.0" or "HTTP/1.1": other versions and other spellings are not this parser's to guess.
  for (let i = 0; i < 7; i++) if (buf[at + i] !== HTTP_1.charCodeAt(i)) return undefined;
  const d = buf[at + 7];
  return d === 0x30 ? 0 : d === 0x31 ? 1 : undefined;
}

/**
 * The request head at the start of `buf`: the head, a HeadError, or undefined while its blank line has not
 * come. Empty lines before the request line are skipped (RFC 9112 2.2), at most the head's byte limit.
 * Both readers keep no state between calls and scan from the start: a caller holding a partial head calls
 * again when new bytes hold an LF, not on every read, or a peer sending a byte at a time costs the square
 * of the head's size (bounded by maxHeadBytes, and still a slow peer's lever).
 */
export function readRequestHead(buf: Buffer, limits: Http1Limits = HTTP1_DEFAULT_LIMITS): RequestHead | HeadError | undefined {
  let start = 0;
  while (buf[start] === CR && buf[start + 1] === LF && start < limits.maxHeadBytes) start += 2;
  const end = lineEnd(buf, start, limits);
  if (end instanceof HeadError) return end;
  if (end < 0) return start >= limits.maxHeadBytes ? new HeadError('head-too-large', 431) : undefined;
  let sp1 = start;
  while (sp1 < end && buf[sp1] !== SP) sp1++;
  let sp2 = sp1 + 1;
  while (sp2 < end && buf[sp2] !== SP) sp2++;
  if (sp2 >= end || end - sp2 !== 9) return new HeadError('bad-start-line', 400);
  if (sp1 === start || !allIn(TOKEN, buf, start, sp1)) return new HeadError('bad-method', 400);
  if (sp2 === sp1 + 1 || !allIn(TARGET, buf, sp1 + 1, sp2)) return new HeadError('bad-target', 400);
  const minor = version(buf, sp2 + 1);
  if (minor === undefined) return new HeadError('bad-version', 505);
  const read = readFields(buf, end + 2, limits);
  if (read === undefined || read instanceof HeadError) return read;
  const { fields } = read;
  let framing: BodyFraming;
  if (fields.transferEncoding !== undefined) {
    if (minor === 0) return new HeadError('transfer-encoding-in-http-1.0', 400);
    if (fields.contentLength >= 0) return new HeadError('content-length-with-transfer-encoding', 400);
    // Only chunked alone: a request's other codings would be the proxy's to undo, and it undoes none.
    const list = members(fields.transferEncoding);
    if (list.length !== 1 || list[0] !== 'chunked') return new HeadError('unsupported-transfer-encoding', 501);
    framing = CHUNKED;
  } else {
    framing = fields.contentLength > 0 ? { kind: 'length', length: fields.contentLength } : NO_BODY;
  }
  return new ParsedRequest(buf, fields.spans, buf.toString('latin1', start, sp1), buf.toString('latin1', sp1 + 1, sp2), minor, framing, keepAlive(minor, fields), read.end);
}

/**
 * The response head at the start of `buf`, to a request of `method`: the head, a HeadError, or undefined
 * while its blank line has not come. A 1xx head is returned as it is (framing none): the caller reads the
 * final answer after it. A 2xx answer to CONNECT and a 101 are the start of a tunnel, not messages: the
 * caller's to handle (the proxies refuse CONNECT and upgrades before a request goes out).
 */
export function readResponseHead(buf: Buffer, method: string, limits: Http1Limits = HTTP1_DEFAULT_LIMITS): ResponseHead | HeadError | undefined {
  const end = lineEnd(buf, 0, limits);
  if (end instanceof HeadError) return end;
  if (end < 0) return undefined;
  const minor = version(buf, 0);
  if (minor === undefined || buf[8] !== SP) return new HeadError('bad-version', 400);
  // "HTTP/1.1 200" and "HTTP/1.1 200 " and "HTTP/1.1 200 OK": the reason is optional, its space is not always sent.
  if (end < 12 || (end > 12 && buf[12] !== SP) || !allIn(DIGITS, buf, 9, 12)) return new HeadError('bad-status', 400);
  const status = Number(buf.toString('latin1', 9, 12));
  if (status < 100 || (end > 13 && !allIn(FIELD_VALUE, buf, 13, end))) return new HeadError('bad-status', 400);
  const read = readFields(buf, end + 2, limits);
  if (read === undefined || read instanceof HeadError) return read;
  const { fields } = read;
  // RFC 9112 6.1: such a message's framing is faulty and its connection done; refused, as a request's is.
  if (minor === 0 && fields.transferEncoding !== undefined) return new HeadError('transfer-encoding-in-http-1.0', 400);
  let framing: BodyFraming;
  let reusable = keepAlive(minor, fields);
  if (status < 200 || status === 204 || status === 304 || method === 'HEAD') {
    framing = NO_BODY;
  } else if (fields.transferEncoding !== undefined) {
    if (fields.contentLength >= 0) return new HeadError('content-length-with-transfer-encoding', 400);
    const list = members(fields.transferEncoding);
    const chunked = list.indexOf('chunked');
    if (list.includes('') || (chunked >= 0 && chunked !== list.length - 1)) return new HeadError('unsupported-transfer-encoding', 400);
    // Without chunked last, the body runs to the connection's close (RFC 9112 6.3, 4).
    framing = chunked >= 0 ? CHUNKED : TO_CLOSE;
  } else if (fields.contentLength >= 0) {
    framing = fields.contentLength > 0 ? { kind: 'length', length: fields.contentLength } : NO_BODY;
  } else {
    framing = TO_CLOSE;
  }
  if (framing.kind === 'close') reusable = false;
  return new ParsedResponse(buf, fields.spans, status, end > 13 ? buf.toString('latin1', 13, end) : '', minor, framing, reusable, read.end);
}

/** The fields' names and values as strings, flat, from their spans. */
function fieldStrings(buf: Buffer, spans: readonly number[]): string[] {
  const raw: string[] = [];
  for (let i = 0; i < spans.length; i += FIELD_SPAN) raw.push(buf.toString('latin1', spans[i]!, spans[i + 1]!), buf.toString('latin1', spans[i + 2]!, spans[i + 3]!));
  return raw;
}

/** A head's fields, their strings made when first read. A class: its getter is on the prototype, not made per head. */
abstract class Parsed {
  #raw: string[] | undefined;
  readonly #source: Buffer;
  constructor(
    source: Buffer,
    readonly fieldSpans: readonly number[],
  ) {
    this.#source = source;
  }
  get rawHeaders(): string[] {
    return (this.#raw ??= fieldStrings(this.#source, this.fieldSpans));
  }
}

class ParsedRequest extends Parsed implements RequestHead {
  constructor(
    source: Buffer,
    spans: readonly number[],
    readonly method: string,
    readonly target: string,
    readonly minor: 0 | 1,
    readonly framing: BodyFraming,
    readonly keepAlive: boolean,
    readonly headBytes: number,
  ) {
    super(source, spans);
  }
}

class ParsedResponse extends Parsed implements ResponseHead {
  constructor(
    source: Buffer,
    spans: readonly number[],
    readonly status: number,
    readonly reason: string,
    readonly minor: 0 | 1,
    readonly framing: BodyFraming,
    readonly keepAlive: boolean,
    readonly headBytes: number,
  ) {
    super(source, spans);
  }
}
