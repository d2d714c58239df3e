import { errors } from 'undici';
import { equalsLower } from './bytes.js';
import { FIELD_SPAN } from './head.js';

/**
 * What the raw transport's connection (connection.ts) makes of an answer's head for undici's handler and for
 * itself: the fields as undici hands them, the server's Keep-Alive hint, and undici's errors for a head the
 * strict reader refused.
 */

/** The answer's fields as undici hands them: name, value, ... as Buffers, views of the bytes read. */
export function rawHeaders(buf: Buffer, spans: readonly number[]): Buffer[] {
  const raw: Buffer[] = new Array<Buffer>((spans.length / FIELD_SPAN) * 2);
  for (let i = 0, j = 0; i < spans.length; i += FIELD_SPAN, j += 2) {
    raw[j] = buf.subarray(spans[i]!, spans[i + 1]!);
    raw[j + 1] = buf.subarray(spans[i + 2]!, spans[i + 3]!);
  }
  return raw;
}

/** The seconds of a Keep-Alive field's `timeout=` (the server's idle timeout), undefined without one. */
export function keepAliveHint(buf: Buffer, spans: readonly number[]): number | undefined {
  for (let i = 0; i < spans.length; i += FIELD_SPAN) {
    if (spans[i + 1]! - spans[i]! !== 10 || !equalsLower(buf, spans[i]!, spans[i + 1]!, 'keep-alive')) continue;
    const m = /(?:^|[,;\s])timeout\s*=\s*(\d{1,9})/i.exec(buf.toString('latin1', spans[i + 2]!, spans[i + 3]!));
    if (m) return Number(m[1]);
  }
  return undefined;
}

/** A refused head as undici reports it: a head over the limits is its HeadersOverflowError, the rest parser errors. */
export function headError(reason: string): Error {
  if (reason === 'head-too-large' || reason === 'too-many-fields') return new errors.HeadersOverflowError(`Headers Overflow Error (${reason})`);
  return parserError(reason);
}

/**
 * llhttp's names (undici's HPE_* codes) for the readers' reasons where llhttp has one; the reason itself is kept in
 * the message. A reason llhttp has no name for (its parser is laxer) keeps its own, upper-cased.
 */
const LLHTTP_CODES: Readonly<Record<string, string>> = {
  'bad-content-length': 'INVALID_CONTENT_LENGTH',
  'conflicting-content-length': 'UNEXPECTED_CONTENT_LENGTH',
  'content-length-with-transfer-encoding': 'UNEXPECTED_CONTENT_LENGTH',
  'unsupported-transfer-encoding': 'INVALID_TRANSFER_ENCODING',
  'transfer-encoding-in-http-1.0': 'INVALID_TRANSFER_ENCODING',
  'bad-status': 'INVALID_STATUS',
  'bad-version': 'INVALID_VERSION',
  'bad-field-name': 'INVALID_HEADER_TOKEN',
  'bad-field-value': 'INVALID_HEADER_TOKEN',
  'obs-fold': 'INVALID_HEADER_TOKEN',
  'bare-lf': 'CR_EXPECTED',
  'bare-cr': 'LF_EXPECTED',
  'bad-chunk-size': 'INVALID_CHUNK_SIZE',
  'chunk-too-large': 'INVALID_CHUNK_SIZE',
  'size-line-too-long': 'INVALID_CHUNK_SIZE',
  'bad-chunk-extension': 'STRICT',
  'bad-chunk-end': 'STRICT',
  'bad-trailer': 'INVALID_HEADER_TOKEN',
  'trailer-too-large': 'HEADER_OVERFLOW',
};

/** undici's parser error (code HPE_*), from the reader's reason. */
export function parserError(reason: string): Error {
  // undici's runtime signature is (message, code, data); its types say (message, options). It prefixes HPE_.
  const Ctor = errors.HTTPParserError as unknown as new (message: string, code: string) => Error;
  return new Ctor(`Response does not match the HTTP/1.1 protocol (${reason})`, LLHTTP_CODES[reason] ?? reason.toUpperCase().replace(/[-.]/g, '_'));
}
