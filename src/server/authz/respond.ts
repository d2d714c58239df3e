/**
 * The answers of the inbound layers that refuse a request: a small JSON body
 * with the same `{"error": {code, message}}` shape as the control plane's, so
 * a caller can tell a mesh refusal from the application's own 403. On a
 * ServerResponse (HTTP/1.1 or HTTP/2 compat) normally; written raw on the
 * socket for an Upgrade or CONNECT request, which Node hands over without a
 * response object; on the stream itself for HTTP/2's core 'stream' API.
 */
import http from 'node:http';
import { Http2ServerResponse, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';

export type RefuseTarget = http.ServerResponse | Duplex;

export function refuse(to: RefuseTarget, status: number, code: string, message: string, closeConnection = false, retryAfter?: string): void {
  const body = `{"error":{"code":"${code}","message":${JSON.stringify(message)}}}\n`;
  if (!(to instanceof http.ServerResponse)) {
    if (isCoreStream(to)) return refuseStream(to, status, body, retryAfter);
    if (!(to instanceof Http2ServerResponse)) return refuseRaw(to, status, body, retryAfter);
    // HTTP/2 has no Connection header (setting one throws): a stream refused ends alone, the session stays.
    closeConnection = false;
  }
  respondWith(to as http.ServerResponse, status, body, closeConnection, retryAfter);
}

function respondWith(to: http.ServerResponse, status: number, body: string, closeConnection: boolean, retryAfter: string | undefined): void {
  if (to.destroyed || to.headersSent) return;
  to.statusCode = status;
  to.setHeader('content-type', 'application/json');
  to.setHeader('content-length', Buffer.byteLength(body));
  to.setHeader('cache-control', 'no-store');
  if (retryAfter) to.setHeader('retry-after', retryAfter);
  if (closeConnection) to.setHeader('connection', 'close');
  to.end(body);
}

/** An HTTP/2 stream of the core API ('stream' event): it has no response object, but is answered on its own. */
function isCoreStream(to: Duplex): to is ServerHttp2Stream {
  return typeof (to as Partial<ServerHttp2Stream>).respond === 'function';
}

function refuseStream(stream: ServerHttp2Stream, status: number, body: string, retryAfter: string | undefined): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond({
    ':status': status,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...(retryAfter ? { 'retry-after': retryAfter } : {}),
  });
  stream.end(body);
}

/** The socket was never handed to the application, and after a refused upgrade it cannot carry another request: close it. */
function refuseRaw(socket: Duplex, status: number, body: string, retryAfter?: string): void {
  if (socket.destroyed) return;
  const head = [
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}`,
    'content-type: application/json',
    `content-length: ${Buffer.byteLength(body)}`,
    'cache-control: no-store',
    ...(retryAfter ? [`retry-after: ${retryAfter}`] : []),
    'connection: close',
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}
