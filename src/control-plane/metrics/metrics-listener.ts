/**
 * `--metrics-listen`: a second listener, plain HTTP, that serves `GET /metrics` and nothing else, with
 * no token. It is Prometheus's usual scrape setup (a node's exporters on a local port, no credentials
 * to provision), so it binds to loopback unless told otherwise: what it shows (request counts, registry
 * sizes) is not secret, but it is not for the network at large either. It gets the same guard as every
 * listener of ours (DESIGN.md, "Security rules"): header and request timeouts, destroy() on every client
 * error, and a connection cap of its own, so a misbehaving scraper can neither hold descriptors nor
 * reach the API's.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { applyHttpTimeouts, capConnections, closeWith } from '../../core/listener-guard.js';
import type { EventLog } from '../log.js';
import { EXPOSITION_CONTENT_TYPE } from './exposition.js';

/** A few scrapers (Prometheus replicas, an agent, someone with curl): far below what anyone needs, far above zero. */
export const DEFAULT_METRICS_MAX_CONNECTIONS = 32;

export interface MetricsListenerOptions {
  host: string;
  port: number;
  maxConnections: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  render(): Promise<string>;
  log: EventLog;
}

export interface MetricsListener {
  readonly url: string;
  close(): Promise<void>;
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

export async function startMetricsListener(opts: MetricsListenerOptions): Promise<MetricsListener> {
  const serve = async (req: IncomingMessage, res: ServerResponse) => {
    // Nothing here reads a body: one sent anyway is left unread, so the connection is not reused.
    const path = (req.url ?? '').split('?', 1)[0];
    if (path !== '/metrics') return plain(res, 404, 'not found: this listener serves GET /metrics only\n', { connection: 'close' });
    if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 405, 'method not allowed: GET /metrics\n', { allow: 'GET, HEAD', connection: 'close' });
    const text = await opts.render();
    if (res.headersSent || res.destroyed) return;
    res.writeHead(200, { 'content-type': EXPOSITION_CONTENT_TYPE, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : text);
  };
  const server = http.createServer({ keepAliveTimeout: 5_000, noDelay: true }, (req, res) => {
    serve(req, res).catch((err: unknown) => {
      opts.log(`error metrics: ${(err as Error)?.stack ?? String(err)}`);
      if (!res.headersSent) plain(res, 500, 'internal error; the details are in the control plane log\n', { connection: 'close' });
      else res.destroy();
    });
  });
  applyHttpTimeouts(server, opts.headersTimeoutMs, opts.requestTimeoutMs);
  capConnections(
    server,
    opts.maxConnections,
    (level, message, fields) => opts.log(`${level === 'warn' ? 'WARNING ' : ''}metrics ${message}`, { component: 'metrics', ...fields }),
    '--metrics-max-connections',
  );
  // Malformed or slow requests: a short answer when the socket can take one, then destroy (a half-open
  // socket left to end() would stay as long as the peer wants).
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return socket.destroy();
    const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    closeWith(socket, `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => opts.log(`error metrics listener: ${err.message}`));
  const { port } = server.address() as AddressInfo;
  const url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}/metrics`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
