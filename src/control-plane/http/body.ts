/**
 * Request bodies: JSON only, size limited before and while reading, decoded
 * strictly. Every failure is an HttpError with a message that says what to fix.
 */
import type { IncomingMessage } from 'node:http';
import { ErrorCode } from '../../core/errors.js';
import { HttpError, badRequest } from './http-error.js';

export function tooLarge(limitBytes: number, got: string): HttpError {
  // "Connection: close": we stop reading, so the rest of the body must not be parsed as the next request.
  return new HttpError(413, ErrorCode.PAYLOAD_TOO_LARGE, `request body is ${got}; the limit is ${limitBytes} bytes`, {
    headers: { connection: 'close' },
  });
}

/** Whether the request carries a body at all (HTTP/1.1 framing: Content-Length or Transfer-Encoding). */
export function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return len !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/** Read the raw body, refusing it as soon as it is known to exceed the limit. */
export function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  if (!hasBody(req)) return Promise.resolve(Buffer.alloc(0));
  const declared = req.headers['content-length'];
  // Node's parser has already rejected a non-numeric or conflicting Content-Length.
  if (declared !== undefined && Number(declared) > limitBytes) return Promise.reject(tooLarge(limitBytes, `${declared} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        cleanup();
        req.pause();
        reject(tooLarge(limitBytes, `more than ${limitBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(badRequest(`could not read the request body: ${err.message}`));
    };
    const onAborted = () => onError(new Error('the client closed the connection mid-body'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/**
 * Only JSON is accepted, and only when it says so: a missing Content-Type is refused too, since a web page can
 * send a body without one (a typeless Blob) and without a CORS preflight.
 */
export function checkContentType(req: IncomingMessage): void {
  const header = req.headers['content-type'];
  if (header === undefined || header.trim() === '') {
    throw new HttpError(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, "the request has a body but no content-type; send application/json (UTF-8), e.g. curl -H 'content-type: application/json'");
  }
  const [type, ...params] = header.split(';').map((s) => s.trim().toLowerCase());
  const charset = params
    .find((p) => p.startsWith('charset='))
    ?.slice('charset='.length)
    .replace(/"/g, '');
  if (type === 'application/json' && (charset === undefined || charset === 'utf-8' || charset === 'utf8')) return;
  throw new HttpError(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, `content-type "${header.slice(0, 100)}" is not supported; send application/json (UTF-8), e.g. curl -H 'content-type: application/json'`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decode and parse; undefined for an empty body. */
export function parseJson(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw badRequest('request body is not valid UTF-8');
  }
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`request body is not valid JSON: ${(err as Error).message}`);
  }
}
