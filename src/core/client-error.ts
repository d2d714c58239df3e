/**
 * The answer to a request Node's HTTP parser refused ('clientError': malformed, headers over the size
 * limit, not complete in time), for the listeners that answer for the mesh itself: the control plane, the
 * proxy's outbound listener, the gateway's ports. Node's own answer is a bare status line with no body; a
 * caller of these gets the coded JSON of every other error (docs/errors.md), and the listener hears of it
 * (a log line, a count). One place, so that the three say the same thing for the same fault.
 */
import http, { type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ErrorCode } from './errors.js';
import { closeWith } from './listener-guard.js';

export interface RefusedRequest {
  status: 400 | 408 | 431;
  code: string;
  message: string;
}

export interface ParserLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** The header size limit, when the listener sets its own (else Node's: the message names none). */
  maxHeaderSize?: number | undefined;
}

/** What to answer for a parser error on `socket`; undefined when no answer can go (a reset, a dead socket, an answer already under way). */
export function refusal(err: NodeJS.ErrnoException & { reason?: string }, socket: Socket, limits: ParserLimits): RefusedRequest | undefined {
  const responding = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || responding?.headersSent) return undefined;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return {
      status: 408,
      code: ErrorCode.REQUEST_TIMEOUT,
      message: `the request was not complete in time (headers within ${limits.headersTimeoutMs} ms, the whole request within ${limits.requestTimeoutMs} ms)`,
    };
  }
  if (err.code === 'HPE_HEADER_OVERFLOW' && limits.maxHeaderSize !== undefined) {
    return { status: 431, code: ErrorCode.BAD_REQUEST, message: `the request line and headers exceed ${limits.maxHeaderSize} bytes` };
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  return { status, code: ErrorCode.BAD_REQUEST, message: `malformed HTTP request (${err.code ?? 'parse error'}): ${err.reason ?? err.message}` };
}

/** A whole HTTP/1.1 answer with a coded JSON body, for a socket HTTP no longer speaks on. */
export function rawJsonAnswer(status: number, code: string, message: string, extraHeaders = ''): string {
  const json = JSON.stringify({ error: { code, message } });
  return (
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(json)}\r\n${extraHeaders}connection: close\r\n\r\n${json}`
  );
}

export interface ClientErrorOptions {
  /** The limits in force now (a gateway's change live). */
  limits(): ParserLimits;
  /** false for a socket HTTP must not answer on (a TLS socket whose handshake is not done): destroyed. */
  answerable?(socket: Socket): boolean;
  /** Told of each refusal answered (a log line, a count). */
  refused?(refusal: RefusedRequest, socket: Socket): void;
}

/** Answer `server`'s parser errors with coded JSON, then destroy the socket (half-open: end() alone would leave it to the peer). */
export function answerClientErrors(server: http.Server, options: ClientErrorOptions): void {
  server.on('clientError', (err: NodeJS.ErrnoException & { reason?: string }, socket: Socket) => {
    const r = options.answerable?.(socket) === false ? undefined : refusal(err, socket, options.limits());
    if (r === undefined) {
      socket.destroy();
      return;
    }
    options.refused?.(r, socket);
    closeWith(socket, rawJsonAnswer(r.status, r.code, r.message));
  });
}
