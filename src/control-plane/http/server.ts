/**
 * The HTTP server: parses the target, routes, reads the body, runs the
 * handler and answers. Every request is wrapped so that nothing a client
 * sends can throw past this file; malformed HTTP that Node's parser refuses is
 * answered here too, in the same JSON error shape.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { Socket } from 'node:net';
import { ErrorCode } from '../../core/errors.js';
import type { ApiErrorBody } from '../../config/wire.js';
import { authorize } from '../auth/authorize.js';
import type { Tokens } from '../auth/tokens.js';
import { logTarget, sanitize, type EventLog } from '../log.js';
import { checkContentType, hasBody, parseJson, readBody } from './body.js';
import { HttpError, badRequest, fromStoreError } from './http-error.js';
import { errorReply, sendJson } from './respond.js';
import type { Router } from './router.js';
import { parseTarget } from './target.js';

export interface ApiServerOptions {
  router: Router;
  bodyLimitBytes: number;
  log: EventLog;
  tokens: Tokens;
  /** Serve HTTPS with this key and certificate (hot-swapped later with setSecureContext); plain HTTP when absent. */
  tls?: SecureContextOptions;
}

export function createApiServer({ router, bodyLimitBytes, log, tokens, tls }: ApiServerOptions): http.Server {
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      // handle() catches everything itself; this is the last line of defence.
      log(`error ${req.method} ${logTarget(req.url)}: ${(err as Error)?.stack ?? String(err)}`);
      if (!res.headersSent) sendJson(res, 500, errorReply(err).body);
      else res.destroy();
    });
  };
  const httpOptions: http.ServerOptions = {
    // Bound how long a slow client may hold a connection before its request is complete
    // (slowloris); watch streams are unaffected because their GET completes at once.
    headersTimeout: 10_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 5_000,
    noDelay: true,
    // Checked in handle() instead, so that the answer has the same JSON shape as every other error.
    requireHostHeader: false,
  };
  const server: http.Server = tls
    ? // The TLS handshake has its own deadline, so a client that opens a connection and says nothing is cut early.
      https.createServer({ ...httpOptions, ...tls, minVersion: 'TLSv1.2', handshakeTimeout: 10_000 }, listener)
    : http.createServer(httpOptions, listener);
  if (tls) {
    // A failed handshake (a plaintext client, a client that distrusts our CA) is the client's problem: log it, briefly.
    server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: { remoteAddress?: string }) => {
      log(`reject tls from ${socket.remoteAddress ?? '?'}: ${sanitize(err.code ?? err.message, 120)}`);
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let bodyRead = !hasBody(req);
    try {
      if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && req.headers.host === undefined) {
        throw badRequest('an HTTP/1.1 request must carry a Host header');
      }
      const target = parseTarget(req.url);
      const { route, params } = router.match(req.method, target);
      // Before the body is read: nothing unauthenticated costs more than its headers.
      const principal = authorize(tokens, route.auth ?? 'admin', req);
      const mode = route.body ?? 'none';
      if (mode !== 'none' && !bodyRead) checkContentType(req);
      const raw = await readBody(req, bodyLimitBytes);
      bodyRead = true;
      let body: unknown;
      if (mode !== 'none') {
        body = parseJson(raw);
        if (body === undefined && mode === 'required') throw badRequest('the request body is empty; this endpoint expects a JSON object');
      }
      const reply = await route.handle({ req, res, params, query: target.query, body, principal });
      if (reply) sendJson(res, reply.status, reply.body, reply.headers);
    } catch (thrown) {
      const err = fromStoreError(thrown);
      const { status, body, headers } = errorReply(err);
      if (err instanceof HttpError) {
        log(`reject ${status} ${req.method} ${logTarget(req.url)}: ${sanitize(err.message, 500)}`);
      } else {
        log(`error 500 ${req.method} ${logTarget(req.url)}: ${(err as Error)?.stack ?? String(err)}`);
      }
      // An unread body would otherwise be parsed as the next request on this connection.
      if (!bodyRead) headers.connection = 'close';
      if (res.headersSent) res.destroy();
      else sendJson(res, status, body, headers);
    }
  }

  server.on('clientError', (err: NodeJS.ErrnoException & { reason?: string }, socket: Socket) => {
    const message = err.reason ?? err.message;
    const responding = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || responding?.headersSent) {
      socket.destroy();
      return;
    }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body: ApiErrorBody = {
      error: { code: ErrorCode.BAD_REQUEST, message: `malformed HTTP request (${err.code ?? 'parse error'}): ${message}` },
    };
    const json = JSON.stringify(body);
    log(`reject ${status} from ${socket.remoteAddress ?? '?'}: ${sanitize(body.error.message)}`);
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\n` +
        `content-length: ${Buffer.byteLength(json)}\r\nconnection: close\r\n\r\n${json}`,
    );
  });

  return server;
}
